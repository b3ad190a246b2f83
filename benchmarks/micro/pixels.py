"""Decoding every aligned crop against memory-mapping the pixel cache (faces/pixels_<size>.npy), on CK+48.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.pixels [--data-root ../shared/datasets/ck_plus48/CK+48] [--size 48]
        [--repeats 5] [--json PATH | --record]

Makes CK+48's faces as the ckplus48 preset does (``detector: none``, 48 px crops) in a scratch folder, builds
the pixel cache once, then prints the median over ``--repeats`` of: decoding every usable crop (what each
training and evaluation job did before the cache), opening the cache and copying every face out of the
memory map (what a job does now), and loading one fold's train and val splits both ways (``load_fold``, the
jobs' entry point). Exits 0 with a message when the dataset is absent. The figures depend on the machine's
load and on the page cache (the first read of the crops or the array from disk is slower); compare within
one run. Figures (``_s``: seconds): each of those (medians), the cache's build time and its size.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import record


def median_seconds(work, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--data-root", type=Path, default=record.DATASETS / "ck_plus48" / "CK+48")
    parser.add_argument("--size", type=int, default=48, help="the networks' input size (the preset's: 48)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.data_root.is_dir():
        print(f"{args.data_root} absent: nothing to measure (CK+48 lives in ../shared/datasets)")
        return

    from emoverify.data.adapters import load_dataset
    from emoverify.faces.detect import FaceSettings, prepare_faces
    from emoverify.faces.pixels import PixelCache, build_pixel_cache
    from emoverify.labels.sources import LabelSource
    from emoverify.splits.fold_data import FoldFiles, load_fold, load_images
    from emoverify.splits.folds import make_folds

    with tempfile.TemporaryDirectory(prefix="bench_pixels_") as scratch:
        root = Path(scratch)
        manifest = prepare_faces(
            load_dataset("ckplus48", args.data_root), root / "crops", FaceSettings(detector="none", size=48)
        )
        manifest.to_csv(root / "manifest.csv", index=False)
        make_folds(manifest, n_folds=5, seed=0, val_fraction=0.2).to_csv(root / "folds.csv", index=False)
        usable = manifest[manifest["status"] == "ok"]
        paths, ids = usable["aligned_path"].tolist(), usable["image_id"].astype(str).tolist()
        cache_files = (root / "pixels.npy", root / "pixels.json")
        built = build_pixel_cache(root / "manifest.csv", args.size, *cache_files)
        print(
            f"CK+48: {len(usable)} faces at {args.size} px; pixel cache built once in {built['seconds']:.2f} s "
            f"({cache_files[0].stat().st_size / 1e6:.1f} MB)"
        )

        decode = median_seconds(lambda: load_images(paths, args.size), args.repeats)
        mapped = median_seconds(
            lambda: PixelCache(*cache_files, root / "manifest.csv", args.size).rows(ids), args.repeats
        )
        print(
            f"all faces: decode every crop {decode:.3f} s, memory-map the cache {mapped:.4f} s "
            f"({decode / mapped:.0f}x faster; median of {args.repeats})"
        )

        def fold(pixels):
            files = FoldFiles(root / "manifest.csv", root / "folds.csv", pixels=pixels)
            settings = dict(label_source=LabelSource("manual"), splits=("train", "val"))
            return lambda: load_fold(files, 0, args.size, **settings)

        decoded_fold = median_seconds(fold(None), args.repeats)
        mapped_fold = median_seconds(fold(cache_files), args.repeats)
        print(
            f"fold 0, train + val through load_fold: decoding {decoded_fold:.3f} s, pixel cache {mapped_fold:.3f} s "
            f"(median of {args.repeats})"
        )
        figures = {
            "faces": len(usable),
            "size_px": args.size,
            "cache_build_s": built["seconds"],
            "cache_megabytes": cache_files[0].stat().st_size / 1e6,
            "decode_all_s": decode,
            "memory_map_all_s": mapped,
            "fold_decode_s": decoded_fold,
            "fold_cache_s": mapped_fold,
        }
    record.save(args, __spec__.name, figures, __doc__)


if __name__ == "__main__":
    main()
