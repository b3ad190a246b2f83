"""Benchmark of the faces stage on JAFFE: MTCNN batched by image size versus one image at a time.

Prints faces per second (images through detection + alignment + writing the
crop, divided by wall time) for ``batch_size`` 16 and 1 on the same images, and
the status counts of each run. The MTCNN model is loaded (and warmed up on one
image) before timing. With ``--counts`` it also prints the issue's acceptance
counts: JAFFE aligned with MTCNN, CK+48 usable with ``detector: none``, and the
share of the default demo's faces found by MTCNN with probability > 0.9.

    .venv/bin/python -m benchmarks.micro.faces [--limit 64] [--device cpu] [--counts] [--json PATH | --record]

Figures: faces_per_second_batch16 and _batch1, the images timed, and with ``--counts`` the counts above.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch  # noqa: F401  (torch before anything that may import tensorflow)

from benchmarks import record
from benchmarks.record import DATASETS
from emoverify.data import adapters, demo
from emoverify.faces import detect
from emoverify.model.device import resolve_device


def timed_run(table, batch_size: int, device: str, detector: str = "mtcnn"):
    """Run the faces stage into a scratch folder; return (seconds, manifest)."""
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        manifest = detect.prepare_faces(
            table, out_dir, detect.FaceSettings(detector=detector, batch_size=batch_size), device=device
        )
        return time.perf_counter() - start, manifest


def summary_text(manifest) -> str:
    return ", ".join(f"{row.status} {row.count}" for row in detect.status_summary(manifest).itertuples())


def benchmark_batching(jaffe_root: Path, limit: int | None, device: str, repeats: int) -> dict:
    table = adapters.load_dataset("jaffe", jaffe_root)
    if limit:
        table = table.iloc[:limit]
    subset = "all" if len(table) == 213 else f"the first {len(table)} (sorted by name)"
    print(f"JAFFE: {subset} of 213 images, 256x256, device {device}, {torch.get_num_threads()} torch threads")
    timed_run(table.iloc[:1], 1, device)  # load MTCNN and warm up
    figures = {"images": len(table), "device": device}
    for batch_size in (16, 1):
        seconds = [timed_run(table, batch_size, device)[0] for _ in range(repeats - 1)]
        last_seconds, manifest = timed_run(table, batch_size, device)
        best = min(seconds + [last_seconds])
        print(
            f"  batch_size {batch_size:>2}: {len(table) / best:6.1f} faces/s  "
            f"(best of {repeats}: {best:.2f} s; {summary_text(manifest)})"
        )
        figures[f"faces_per_second_batch{batch_size}"] = len(table) / best
    return figures


def acceptance_counts(device: str) -> dict:
    jaffe = adapters.load_dataset("jaffe", DATASETS / "jaffe")
    _, jaffe_manifest = timed_run(jaffe, 16, device)
    aligned = int((jaffe_manifest["status"] == "ok").sum())
    print(f"JAFFE, MTCNN: {aligned} of {len(jaffe_manifest)} aligned ({summary_text(jaffe_manifest)})")
    ckplus48 = adapters.load_dataset("ckplus48", DATASETS / "ck_plus48")
    _, ck_manifest = timed_run(ckplus48, 16, device, detector="none")
    print(f"CK+48, detector none: {int((ck_manifest['status'] == 'ok').sum())} of {len(ck_manifest)} usable")
    with tempfile.TemporaryDirectory() as demo_dir:
        demo.generate_demo(demo_dir)
        seconds, manifest = timed_run(adapters.load_dataset("demo", demo_dir), 16, device)
    found = int((manifest["det_prob"] > 0.9).sum())
    print(
        f"demo (defaults), MTCNN: {found} of {len(manifest)} found with probability > 0.9 "
        f"({100 * found / len(manifest):.1f}%, {seconds:.1f} s; {summary_text(manifest)})"
    )
    return {
        "jaffe_mtcnn_aligned": int((jaffe_manifest["status"] == "ok").sum()),
        "jaffe_images": len(jaffe_manifest),
        "ckplus48_usable": int((ck_manifest["status"] == "ok").sum()),
        "ckplus48_images": len(ck_manifest),
        "demo_found_above_0.9": found,
        "demo_images": len(manifest),
    }


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--root", type=Path, default=DATASETS / "jaffe", help="the JAFFE folder")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting; the best is reported")
    parser.add_argument("--counts", action="store_true", help="also print the acceptance counts")
    args = parser.parse_args()
    if not args.root.is_dir():
        sys.exit(f"JAFFE not found at {args.root}; pass --root /path/to/jaffe")
    device = str(resolve_device(args.device))
    figures = benchmark_batching(args.root, args.limit, device, max(1, args.repeats))
    if args.counts:
        figures.update(acceptance_counts(device))
    record.save(args, __spec__.name, figures, __doc__)


if __name__ == "__main__":
    main()
