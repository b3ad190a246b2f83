"""The activation cache of a fine-tuned dlib network (``features/dlib_resnet_<level>.npz``): the frozen part's
output, the trainable part's input, for every chip and for its mirror image, computed once per experiment,
chip set, level and weight file.

Below ``finetune: all`` nothing under the trainable part ever changes, so its input for a face is fixed: a run
trains and is scored on these rows instead of pushing every chip through the frozen levels every step, and
flip augmentation picks a face's mirrored row. The file depends only on the chips and the weights (the rule's
inputs) and records the sha1 of both, so a job that reads it with the chips beside it refuses a stale cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoverify.atomic import replaced_when_complete
from emoverify.data.integrity import file_sha1
from emoverify.features.chips import Chips, load_chips, positions
from emoverify.features.store import FeaturesError

FORMAT = 1  # bumped when the file's layout changes
CHUNK = 256  # chips per progress step


@dataclass
class Activations:
    """The frozen part's output for every chip (``activations``) and for its mirror image (``mirrored``)."""

    image_ids: np.ndarray  # str, in the chips file's order
    activations: np.ndarray  # N x C x H x W float32
    mirrored: np.ndarray  # N x C x H x W float32: the same faces flipped left to right before the network
    level: str
    chips_sha1: str
    weights: str  # the weight file's name
    weights_sha1: str
    seconds: float = float("nan")

    def __len__(self) -> int:
        return len(self.image_ids)

    def rows(self, image_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The activations and mirrored activations of ``image_ids``, in that order."""
        at = positions(self.image_ids, image_ids, f"cached {self.level} activations")
        return self.activations[at], self.mirrored[at]


def compute_activations(
    chips: Chips,
    level: str,
    weights_path,
    *,
    chips_sha1: str,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> Activations:
    """Every chip's and every mirrored chip's activations at the input of ``level``'s trainable part, by the
    network of ``weights_path`` (in eval mode, float32, on the CPU); ``progress(n)`` after each chunk."""
    import torch

    from emoverify.model import dlib_resnet

    if level not in dlib_resnet.LEVELS or level == "all":
        below = [name for name in dlib_resnet.LEVELS if name != "all"]
        raise ValueError(f"activations are cached for the levels {below}, not {level!r} (all reads the chips)")
    started = time.perf_counter()
    network = dlib_resnet.DlibResNet.from_dat(str(weights_path)).eval()
    images = torch.from_numpy(chips.chips)
    shape = (len(chips), *dlib_resnet.LEVEL_INPUT_SHAPES[level])
    plain, mirrored = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=np.float32)
    for first in range(0, len(chips), CHUNK):
        block = images[first : first + CHUNK]
        for target, flip in ((plain, False), (mirrored, True)):
            rows = dlib_resnet.activations(network, block, level, batch_size=batch_size, flip=flip)
            target[first : first + len(block)] = rows.numpy()
        if progress is not None:
            progress(len(block))
    return Activations(
        chips.image_ids,
        plain,
        mirrored,
        level,
        chips_sha1,
        Path(weights_path).name,
        file_sha1(weights_path),
        time.perf_counter() - started,
    )


def save_activations(path, cache: Activations) -> None:
    """Uncompressed, so every job loads the rows without inflating them; written whole or not at all."""
    with replaced_when_complete(path) as temporary:
        np.savez(
            temporary,
            format=FORMAT,
            image_id=cache.image_ids,
            activations=cache.activations,
            mirrored=cache.mirrored,
            level=cache.level,
            chips_sha1=cache.chips_sha1,
            weights=cache.weights,
            weights_sha1=cache.weights_sha1,
            seconds=cache.seconds,
        )


def load_activations(path, level: str | None = None, chips_path=None) -> Activations:
    """The cache at ``path``; FeaturesError when it holds another level than ``level`` or was computed from other
    chips than the file at ``chips_path`` (either check is skipped when not given)."""
    rerun = "rerun its rule (snakemake --forcerun dlib_activations ...)"
    with np.load(path, allow_pickle=False) as data:
        if "format" not in data or int(data["format"]) != FORMAT:
            raise FeaturesError(f"{path} is not an activation cache this code reads (format {FORMAT}); {rerun}")
        cache = Activations(
            data["image_id"],
            data["activations"],
            data["mirrored"],
            str(data["level"]),
            str(data["chips_sha1"]),
            str(data["weights"]),
            str(data["weights_sha1"]),
            float(data["seconds"]),
        )
    if level is not None and cache.level != level:
        raise FeaturesError(f"{path} caches the input of {cache.level}, the run fine-tunes {level}; {rerun}")
    if chips_path is not None and cache.chips_sha1 != file_sha1(chips_path):
        raise FeaturesError(
            f"{path} was computed from other chips than {chips_path} (sha1 {cache.chips_sha1[:12]} recorded, the "
            f"chips are now {file_sha1(chips_path)[:12]}); {rerun}"
        )
    if cache.activations.shape != cache.mirrored.shape or len(cache.activations) != len(cache):
        raise FeaturesError(
            f"{path} holds {len(cache)} ids and arrays of shapes {cache.activations.shape}, "
            f"{cache.mirrored.shape}; {rerun}"
        )
    return cache


def cache_from_files(chips_path, level: str, weights_path, **settings) -> Activations:
    """``compute_activations`` of the chips file at ``chips_path`` (what the rule runs)."""
    return compute_activations(
        load_chips(chips_path), level, weights_path, chips_sha1=file_sha1(chips_path), **settings
    )
