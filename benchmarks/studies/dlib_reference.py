"""The dlib reference on a preset's folds, without running the study: chips compared, speed, metrics.

Scores dlib's descriptors exactly as the `evaluate_reference` rule does (Euclidean distance, threshold from
the fold's validation people, `score_and_save`'s metrics), on the folds `make_splits` builds for the preset
(`folds`, `repeats`, `split_seed`, `val_fraction`), for every seed of the preset (seeds only change rank-1's draws).
It needs a faces manifest of the preset, which the faces target writes:

    snakemake faces --cores 2 --directory /tmp/jaffe --configfile config.yaml workflow/presets/jaffe.yaml \\
        --config data_root=../shared/datasets/jaffe
    .venv/bin/python -m benchmarks.studies.dlib_reference workflow/presets/jaffe.yaml \\
        /tmp/jaffe/results/jaffe/faces/manifest.csv --chips aligned_crop aligned_crop_native dlib_detector mtcnn_box

Chips (`--chips`):
- ``aligned_crop``: what the pipeline does (emoverify.features.dlib_descriptor): five points on the aligned
  crop's full rectangle (crop enlarged to 150 px when smaller), chip from the crop;
- ``aligned_crop_native``: the same without enlarging small crops first;
- ``resized_crop``: no five-point chip at all: the aligned crop resized to 150 px (bicubic) goes to the network;
- ``dlib_detector``: dlib's own HOG detector on the original image (upsampling once, then twice, when it
  finds nothing; the MTCNN box when it still finds nothing, counted), five points, chip from the original;
- ``mtcnn_box``: the faces stage's MTCNN box on the original image, five points, chip from the original.

Figures: per chip ``<chip>/images_per_second`` and, per repeat count R, ``<chip>/R<R>/<metric>_mean`` and
``_sd`` over the (repeat, fold) units.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from benchmarks import record
from emoverify.data.imageio import read_rgb
from emoverify.evaluation.verification import verification_report
from emoverify.features.dlib_descriptor import CHIP_SIZE, DlibDescriptor
from emoverify.layout import reference_run
from emoverify.splits import fold_data
from emoverify.splits.folds import make_repeated_folds

ROOT = record.REPO_ROOT

METRICS = ("auc", "tar_at_far_1e-2", "rank1", "eer", "balanced_accuracy")
CHIPS = ("aligned_crop", "aligned_crop_native", "resized_crop", "dlib_detector", "mtcnn_box")


def study_settings(preset: Path) -> dict:
    """config.yaml with the preset merged over it (top-level keys replace, as Snakemake's --configfile)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(yaml.safe_load(preset.read_text()) or {})
    evaluation = {"exclude_same_session": True, "rank1_draws": 10, **config.get("evaluation", {})}
    return {
        "folds": config["folds"],
        "repeats": config.get("repeats", 1),
        "split_seed": config.get("split_seed", 0),
        "val_fraction": config.get("val_fraction", 0.2),
        "seeds": config["seeds"],
        "evaluation": evaluation,
    }


def mtcnn_box(row) -> tuple[float, float, float, float]:
    return (row.box_x1, row.box_y1, row.box_x2, row.box_y2)


def chip_of(model: DlibDescriptor, chip: str, row, detector, counts: dict) -> np.ndarray:
    if chip == "aligned_crop":
        return model.chip(read_rgb(row.aligned_path))
    if chip == "aligned_crop_native":
        crop = read_rgb(row.aligned_path)
        return model.chip(crop, (0, 0, crop.shape[1] - 1, crop.shape[0] - 1))
    if chip == "resized_crop":
        crop = Image.fromarray(read_rgb(row.aligned_path))
        return np.asarray(crop.resize((CHIP_SIZE, CHIP_SIZE), Image.Resampling.BICUBIC))
    image = read_rgb(row.path)
    if chip == "mtcnn_box":
        return model.chip(image, mtcnn_box(row))
    for upsample in (0, 1, 2):
        found = detector(image, upsample)
        if len(found):
            best = max(found, key=lambda r: r.area())
            counts[f"dlib detector, upsample {upsample}"] = counts.get(f"dlib detector, upsample {upsample}", 0) + 1
            return model.chip(image, (best.left(), best.top(), best.right(), best.bottom()))
    counts["dlib detector found nothing: MTCNN box"] = counts.get("dlib detector found nothing: MTCNN box", 0) + 1
    return model.chip(image, mtcnn_box(row))


def descriptors(model, chip: str, manifest: pd.DataFrame, batch_size: int = 32):
    detector = model.dlib.get_frontal_face_detector()
    counts: dict = {}
    usable = manifest[manifest["status"] == "ok"]
    start = time.perf_counter()
    blocks = []
    rows = list(usable.itertuples())
    for first in range(0, len(rows), batch_size):
        chips = [chip_of(model, chip, row, detector, counts) for row in rows[first : first + batch_size]]
        blocks.append(model.describe(chips))
    seconds = time.perf_counter() - start
    return dict(zip(usable["image_id"].astype(str), np.concatenate(blocks))), seconds, counts


def score_folds(vectors: dict, manifest: pd.DataFrame, folds: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """One row of metrics per (repeat, fold, seed), scored as the evaluate_reference rule scores dlib."""
    no_labels = pd.Series("", index=manifest["image_id"])
    rows = []
    units = [(repeat, fold) for repeat in range(settings["repeats"]) for fold in range(settings["folds"])]
    for repeat, fold in units:
        faces = {
            split: fold_data.fold_faces(manifest, folds, fold, split, no_labels, input_size=16, repeat=repeat)
            for split in ("val", "test")
        }
        embeddings = {split: np.stack([vectors[i] for i in faces[split].image_ids]) for split in faces}
        for seed in settings["seeds"]:
            run = reference_run("dlib", fold, seed, repeat=repeat)
            values = verification_report(
                embeddings["test"],
                faces["test"],
                embeddings["val"],
                faces["val"],
                metric="euclidean",
                evaluation=settings["evaluation"],
                seed=run.seed,
            )
            rows.append({"repeat": repeat, "fold": fold, "seed": seed, **{key: values.get(key) for key in METRICS}})
    return pd.DataFrame(rows)


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("preset", type=Path)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--chips", nargs="+", choices=CHIPS, default=["aligned_crop"])
    parser.add_argument("--repeats", type=int, nargs="+", help="score these repeat counts (default: the preset's)")
    parser.add_argument("--workdir", type=Path, help="folder aligned_path is relative to (default: the study's)")
    args = parser.parse_args()
    settings = study_settings(args.preset)
    manifest = pd.read_csv(args.manifest, keep_default_na=False)
    workdir = args.workdir or args.manifest.resolve().parents[3]
    ok = manifest["status"] == "ok"
    manifest.loc[ok, "aligned_path"] = [str(workdir / path) for path in manifest.loc[ok, "aligned_path"]]
    print(f"{args.preset.name}: {int((manifest['status'] == 'ok').sum())} usable faces, {settings}")
    model = DlibDescriptor.load()
    model.describe([np.zeros((150, 150, 3), dtype=np.uint8)])  # warm-up outside the timing
    figures = {"preset": args.preset.name, "usable_faces": int(ok.sum())}
    for chip in args.chips:
        vectors, seconds, counts = descriptors(model, chip, manifest)
        print(f"\n[{chip}] {len(vectors)} faces in {seconds:.1f} s ({len(vectors) / seconds:.1f} images/s) {counts}")
        figures[f"{chip}/images_per_second"] = len(vectors) / seconds
        for repeats in args.repeats or [settings["repeats"]]:
            means = report_folds(vectors, manifest, {**settings, "repeats": repeats})
            for key in METRICS:
                figures[f"{chip}/R{repeats}/{key}_mean"] = means[key].mean()
                figures[f"{chip}/R{repeats}/{key}_sd"] = means[key].std(ddof=1)
    record.save(args, __spec__.name, figures, __doc__)


def report_folds(vectors: dict, manifest: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Print the mean and sd over the (repeat, fold) units; returns the units' metrics, seeds averaged."""
    folds = make_repeated_folds(
        manifest,
        n_folds=settings["folds"],
        repeats=settings["repeats"],
        seed=settings["split_seed"],
        val_fraction=settings["val_fraction"],
    )
    fold_means = score_folds(vectors, manifest, folds, settings).groupby(["repeat", "fold"])[list(METRICS)].mean()
    summary = ", ".join(f"{key} {fold_means[key].mean():.3f} ± {fold_means[key].std(ddof=1):.3f}" for key in METRICS)
    print(f"  {len(fold_means)} (repeat, fold) units, seeds averaged, mean ± sd: {summary}")
    if settings["repeats"] == 1:
        print(fold_means.round(3).to_string())
    return fold_means


if __name__ == "__main__":
    main()
