"""dlib's 150 px chips of an experiment's faces (``features/dlib_chips.npz``), kept by the job that describes
them: what a ``dlib_resnet`` backbone trains on (``finetune: all``) or caches activations of (the levels below).

The file holds every usable face (``status == ok``) in manifest order as N x 3 x 150 x 150 uint8 (RGB), and
accounts for every other image of the manifest: ``skipped_id`` and ``skipped_status`` list each image without
a chip and why (its faces-stage status). A crop that cannot be read stops the job, naming the crop, as the
descriptors' job always did, so no face is ever dropped silently. ``manifest_sha1`` ties the chips to the
manifest they were cut from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emoverify.atomic import replaced_when_complete
from emoverify.features.store import FeaturesError

FORMAT = 1  # bumped when the file's layout changes


@dataclass
class Chips:
    """The chips of the usable faces, and the images that have none."""

    image_ids: np.ndarray  # str, the usable faces in manifest order
    chips: np.ndarray  # N x 3 x 150 x 150 uint8, RGB
    skipped_ids: np.ndarray  # str: every other image of the manifest
    skipped_status: np.ndarray  # str: why it has no chip (the faces stage's status)
    manifest_sha1: str = ""
    chip_padding: float = 0.25

    def __len__(self) -> int:
        return len(self.image_ids)

    def rows(self, image_ids: Sequence[str]) -> np.ndarray:
        """The chips of ``image_ids`` in that order (N x 3 x 150 x 150 uint8); FeaturesError naming the ids the
        file lacks, with the reason it records for them."""
        return self.chips[positions(self.image_ids, image_ids, "chip", self.skipped_reasons())]

    def skipped_reasons(self) -> dict[str, str]:
        return dict(zip(self.skipped_ids.tolist(), self.skipped_status.tolist()))


def positions(cached_ids: np.ndarray, image_ids: Sequence[str], what: str, reasons: dict | None = None) -> np.ndarray:
    """Where each of ``image_ids`` sits among ``cached_ids``; FeaturesError naming the ones that are absent."""
    position = {image_id: index for index, image_id in enumerate(cached_ids.tolist())}
    missing = [image_id for image_id in image_ids if image_id not in position]
    if missing:
        why = [f"{image_id} ({(reasons or {}).get(image_id, 'not in the file')})" for image_id in missing[:3]]
        raise FeaturesError(
            f"{len(missing)} face(s) have no {what} (e.g. {', '.join(why)}); the file was made from another faces "
            "manifest: rerun the features stage"
        )
    return np.array([position[image_id] for image_id in image_ids], dtype=np.intp)


def chips_of_manifest(manifest: pd.DataFrame, image_ids, chips_hwc: np.ndarray, manifest_sha1: str = "") -> Chips:
    """The chips an extractor cut (N x 150 x 150 x 3, for ``image_ids``) with every other manifest image
    accounted for; FeaturesError when a usable face has no chip."""
    ids = np.asarray(image_ids, dtype=str)
    usable = manifest["status"] == "ok"
    expected = manifest.loc[usable, "image_id"].astype(str).tolist()
    if ids.tolist() != expected or len(chips_hwc) != len(ids):
        raise FeaturesError(
            f"{len(chips_hwc)} chips for {len(ids)} ids, against the manifest's {len(expected)} usable faces: "
            "every usable face needs its chip, in manifest order"
        )
    skipped = manifest.loc[~usable]
    return Chips(
        ids,
        np.ascontiguousarray(np.asarray(chips_hwc, dtype=np.uint8).transpose(0, 3, 1, 2)),
        skipped["image_id"].astype(str).to_numpy(dtype=str),
        skipped["status"].astype(str).to_numpy(dtype=str),
        manifest_sha1,
    )


def save_chips(path, chips: Chips) -> None:
    """Uncompressed (jobs load the chips, and chips barely compress), written whole or not at all."""
    with replaced_when_complete(path) as temporary:
        np.savez(
            temporary,
            format=FORMAT,
            image_id=chips.image_ids,
            chips=chips.chips,
            skipped_id=chips.skipped_ids,
            skipped_status=chips.skipped_status,
            manifest_sha1=chips.manifest_sha1,
            chip_padding=chips.chip_padding,
        )


def load_chips(path) -> Chips:
    with np.load(path, allow_pickle=False) as data:
        if "format" not in data or int(data["format"]) != FORMAT:
            raise FeaturesError(
                f"{path} is not a chips file this code reads (format {FORMAT}): rerun the features stage"
            )
        chips = Chips(
            data["image_id"],
            data["chips"],
            data["skipped_id"],
            data["skipped_status"],
            str(data["manifest_sha1"]),
            float(data["chip_padding"]),
        )
    if chips.chips.dtype != np.uint8 or chips.chips.shape[1:] != (3, 150, 150) or len(chips.chips) != len(chips):
        raise FeaturesError(f"{path} holds chips of shape {chips.chips.shape}, not N x 3 x 150 x 150 uint8")
    return chips


def describe(chips: Chips, path: str | Path) -> str:
    """One line for the log: how many chips, how many images without one and why."""
    reasons = pd.Series(chips.skipped_status).value_counts().to_dict() if len(chips.skipped_ids) else {}
    skipped = ", ".join(f"{count} {status}" for status, count in reasons.items()) or "none"
    return f"{len(chips)} chips of 150 px in {path}; images without a usable face: {skipped}"
