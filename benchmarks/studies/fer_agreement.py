"""Agreement of fer's detected expressions with the manual labels of JAFFE and CK+48.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.studies.fer_agreement [--out-dir /tmp] [--thresholds 0 0.4] [--json PATH | --record]

JAFFE (256x256 head-and-shoulders TIFFs) is classified in each of the ways
named by ``--jaffe-crops``: ``full`` (the whole image as the face rectangle),
``mtcnn`` (facenet-pytorch MTCNN landmarks + ``emoverify.faces.align``, 112x112 like
the faces stage's default) or ``faces`` (the faces stage itself,
``emoverify.faces.detect.prepare_faces``). CK+48 images are already tight 48x48 face
crops and are classified as they are. Prints counts, accuracy, Cohen's kappa,
confusion tables and the labelling speed; writes agreement_<dataset>.png into ``--out-dir``.

Figures: per dataset ``<dataset>/images_per_second`` and, per threshold T, ``<dataset>/T<T>/<metric>`` for every
number ``emoverify.labels.agreement.label_agreement`` returns (accuracy, Cohen's kappa, counts).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import record
from emoverify.labels.agreement import label_agreement, plot_confusion
from emoverify.labels.classifier import detect_expressions, load_fer
from emoverify.labels.sources import apply_threshold, manual_expressions

DATASETS = record.DATASETS


def jaffe_table(root: Path) -> pd.DataFrame:
    """`KA.AN1.39.tiff` -> identity KA, expression code AN."""
    files = sorted(root.glob("*.tiff"))
    return pd.DataFrame(
        {
            "image_id": [f.stem for f in files],
            "path": [str(f) for f in files],
            "identity": [f.name.split(".")[0] for f in files],
            "emotion_manual": [f.name.split(".")[1][:2] for f in files],
        }
    )


def ck48_table(root: Path) -> pd.DataFrame:
    """`<emotion>/S010_004_00000017.png` -> identity S010."""
    files = sorted(root.glob("*/*.png"))
    return pd.DataFrame(
        {
            "image_id": [f"{f.parent.name}/{f.stem}" for f in files],
            "path": [str(f) for f in files],
            "identity": [f.stem.split("_")[0] for f in files],
            "emotion_manual": [f.parent.name for f in files],
        }
    )


def unaligned_manifest(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(status="ok", aligned_path=table["path"])


def faces_stage_manifest(table: pd.DataFrame, crops: Path, margin: float) -> pd.DataFrame:
    from emoverify.faces.detect import FaceSettings, prepare_faces  # the faces stage (MTCNN + alignment)

    return prepare_faces(
        table,
        crops,
        FaceSettings(detector="mtcnn", size=112, margin=margin, min_probability=0.9, batch_size=16),
        device="cpu",
    )


def mtcnn_manifest(table: pd.DataFrame, crops: Path, margin: float) -> pd.DataFrame:
    """Align each image on MTCNN's five landmarks of its most probable face."""
    from facenet_pytorch import MTCNN
    from PIL import Image

    from emoverify.faces.align import align_face

    detector = MTCNN(keep_all=False, device="cpu")
    statuses, paths = [], []
    for row in table.itertuples(index=False):
        with Image.open(row.path) as image:
            rgb = image.convert("RGB")
        _, probabilities, landmarks = detector.detect(rgb, landmarks=True)
        if landmarks is None:
            statuses.append("no_face")
            paths.append("")
            continue
        crop = crops / f"{row.image_id.replace('/', '_')}.png"
        Image.fromarray(align_face(np.asarray(rgb), landmarks[0], size=112, margin=margin)).save(crop)
        statuses.append("ok")
        paths.append(str(crop))
    return table.assign(status=statuses, aligned_path=paths)


def measure(name: str, manifest: pd.DataFrame, thresholds: list[float], out_dir: Path) -> dict:
    load_fer()  # loaded once, outside the timing
    started = time.monotonic()
    detected = detect_expressions(manifest)
    seconds = time.monotonic() - started
    usable = manifest[manifest["status"] == "ok"]
    print(
        f"\n=== {name}: {len(manifest)} images, {len(usable)} usable faces; "
        f"fer labelled them in {seconds:.1f} s ({len(usable) / seconds:.1f} images/s)"
    )
    results = {}
    for threshold in thresholds:
        metrics, confusion = label_agreement(manual_expressions(usable), apply_threshold(detected, threshold))
        shown = {k: v for k, v in metrics.items() if k not in ("counting_rule", "detectable_classes")}
        print(f"-- confidence threshold {threshold}: {json.dumps(shown)}")
        print(confusion.to_string())
        if threshold == thresholds[0]:
            figure = plot_confusion(
                confusion,
                out_dir / f"agreement_{name}.png",
                title=f"{name}: fer vs manual (threshold {threshold}), "
                f"accuracy {metrics['accuracy']:.2f}, kappa {metrics['cohen_kappa']:.2f}",
            )
            print(f"figure: {figure}")
        results[threshold] = metrics
    figures = {f"{name}/images_per_second": len(usable) / seconds}
    for threshold, metrics in results.items():
        numbers = {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
        figures.update({f"{name}/T{threshold:g}/{key}": value for key, value in numbers.items()})
    return figures


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.4])
    parser.add_argument("--jaffe-crops", nargs="+", choices=["full", "mtcnn", "faces"], default=["full", "mtcnn"])
    parser.add_argument("--margin", type=float, default=0.0, help="alignment margin (the faces stage's default: 0)")
    args = parser.parse_args()
    jaffe = jaffe_table(args.datasets / "jaffe")
    figures = {}
    for crop in args.jaffe_crops:
        with tempfile.TemporaryDirectory() as crops:
            if crop == "full":
                manifest = unaligned_manifest(jaffe)
            elif crop == "mtcnn":
                manifest = mtcnn_manifest(jaffe, Path(crops), args.margin)
            else:
                manifest = faces_stage_manifest(jaffe, Path(crops), args.margin)
            figures.update(measure(f"jaffe_{crop}", manifest, args.thresholds, args.out_dir))
    ck48 = unaligned_manifest(ck48_table(args.datasets / "ck_plus48" / "CK+48"))
    figures.update(measure("ck48", ck48, args.thresholds, args.out_dir))
    record.save(args, __spec__.name, figures, __doc__)


if __name__ == "__main__":
    main()
