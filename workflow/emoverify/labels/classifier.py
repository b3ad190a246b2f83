"""Expression labels detected by fer's bundled pretrained classifier.

fer classifies each aligned face crop: ``FER.detect_emotions`` is given the
whole crop as the face rectangle, so fer's own face detector is never used.
fer's class names are mapped to the canonical vocabulary (fer has no
``contempt``). tensorflow is imported lazily, off the GPU, and only after the
torch stack (see ``_preload_torch_stack``).

Run as a step of its own: ``python -m emoverify.labels.classifier manifest.csv detected.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from emoverify.progress import Progress, ProgressCallback
from emoverify.vocabulary import EXPRESSIONS

FER_TO_CANONICAL: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
DETECTABLE: tuple[str, ...] = tuple(e for e in EXPRESSIONS if e in FER_TO_CANONICAL.values())
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"prob_{e}" for e in DETECTABLE)
DETECTED_COLUMNS: tuple[str, ...] = (
    "image_id",
    "emotion_detected",
    "confidence",
    *PROBABILITY_COLUMNS,
    "detect_status",
)
# Aligned crops are brought to one size so that fer's fixed 10-pixel margin is
# the same share of every face; 112 is the faces stage's aligned size.
CROP_SIZE = 112
REQUIRED_MANIFEST_COLUMNS = ("image_id", "status", "aligned_path")


class ExpressionError(ValueError):
    """The manifest cannot be labelled (missing columns or similar)."""


class FerUnavailableError(RuntimeError):
    """fer or its bundled model could not be loaded."""


def detect_expressions(manifest: pd.DataFrame, *, progress: ProgressCallback | None = None) -> pd.DataFrame:
    """Classify the expression of every usable face of a faces manifest with fer.

    ``manifest`` needs ``image_id``, ``status`` and ``aligned_path`` (an image
    of the aligned face, any size, RGB or grayscale). Returns one row per
    manifest row with columns ``DETECTED_COLUMNS``: ``emotion_detected`` (the
    canonical name of fer's top class), ``confidence`` (its probability),
    ``prob_<class>`` for each class fer knows, and ``detect_status``: ``ok``, or
    why the row was not classified (``face: <status>`` for rows whose faces
    status is not ok, ``unreadable aligned image: ...``, ``fer returned no
    result``); such rows have ``emotion_detected == ""`` and NaN probabilities.
    fer reports probabilities rounded to two decimals; ties go to the class
    fer lists first. ``progress(done, total)`` is called after every image (an ``emoverify.progress.Progress``).
    """
    _check_manifest(manifest)
    fer = load_fer()
    rows = []
    for position, record in enumerate(manifest.itertuples(index=False), start=1):
        rows.append(_label_row(fer, record))
        if progress is not None:
            progress(position, len(manifest))
    return pd.DataFrame(rows, columns=list(DETECTED_COLUMNS))


def load_fer():
    """Return ``FER(mtcnn=False)`` with its bundled model, tensorflow kept off the GPU."""
    _preload_torch_stack()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf

        _hide_gpus(tf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fer's pkg_resources and tf.lite deprecation notices
            from fer.fer import FER

            return FER(mtcnn=False)
    except Exception as error:  # any failure here means the labels stage cannot run at all
        raise FerUnavailableError(
            f"could not load fer's bundled expression model ({type(error).__name__}: {error}); "
            "install the pinned versions with `pip install -r requirements.txt` (fer==25.10.3, tensorflow)"
        ) from error


def classify_face(fer, bgr: np.ndarray) -> dict[str, float] | None:
    """Return {canonical class: probability} for one face crop in BGR order, or None."""
    height, width = bgr.shape[:2]
    found = fer.detect_emotions(bgr, face_rectangles=[(0, 0, width, height)])
    if not found:
        return None
    return {FER_TO_CANONICAL[name]: float(p) for name, p in found[0]["emotions"].items()}


def load_face_bgr(path: str | Path) -> np.ndarray:
    """Read a face crop as a CROP_SIZE x CROP_SIZE BGR uint8 array (fer expects OpenCV's BGR)."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        if rgb.size != (CROP_SIZE, CROP_SIZE):
            rgb = rgb.resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)
        return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def _preload_torch_stack() -> None:
    # Loading triton (pulled in by torchvision) after tensorflow segfaults the
    # process, so the torch stack goes first in any process that runs fer.
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    try:
        import triton  # noqa: F401
    except ImportError:
        pass


def _hide_gpus(tf) -> None:
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        # tensorflow was already initialised by the caller; fer's TFLite model runs on the CPU anyway.
        print("fer: tensorflow was initialised before the labels step; GPUs could not be hidden", file=sys.stderr)


def _check_manifest(manifest: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ExpressionError(
            f"the faces manifest lacks column(s) {missing}; expected {', '.join(REQUIRED_MANIFEST_COLUMNS)} "
            "(the output of the faces stage)"
        )


def _label_row(fer, record) -> dict:
    row = {"image_id": record.image_id, "emotion_detected": "", "confidence": np.nan}
    row.update({column: np.nan for column in PROBABILITY_COLUMNS})
    if record.status != "ok":
        return {**row, "detect_status": f"face: {record.status}"}
    if not isinstance(record.aligned_path, (str, Path)) or not str(record.aligned_path).strip():
        return {**row, "detect_status": "no aligned image path"}
    try:
        bgr = load_face_bgr(record.aligned_path)
    except (OSError, ValueError) as error:
        return {**row, "detect_status": f"unreadable aligned image: {error}"}
    probabilities = classify_face(fer, bgr)
    if probabilities is None:
        return {**row, "detect_status": "fer returned no result"}
    top = max(probabilities, key=probabilities.get)  # first maximum in fer's class order
    row.update({f"prob_{name}": p for name, p in probabilities.items()})
    return {**row, "emotion_detected": top, "confidence": probabilities[top], "detect_status": "ok"}


def main(argv: list[str] | None = None) -> int:
    """Command line: label a faces manifest CSV and write detected.csv."""
    parser = argparse.ArgumentParser(prog="python -m emoverify.labels.classifier", description=main.__doc__)
    parser.add_argument("manifest", type=Path, help="faces manifest CSV (image_id, status, aligned_path)")
    parser.add_argument("output", type=Path, help="where to write detected.csv")
    parser.add_argument("--progress-every", type=float, default=10.0, help="a progress line every N seconds")
    args = parser.parse_args(argv)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a process of its own: keep every framework off the GPU
    manifest = pd.read_csv(args.manifest, keep_default_na=False, dtype={"image_id": str})
    try:
        detected = detect_expressions(manifest, progress=Progress("labels", every_seconds=args.progress_every))
    except (ExpressionError, FerUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    detected.to_csv(args.output, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
