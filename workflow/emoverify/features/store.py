"""Cached descriptors of one experiment (features/<extractor>.npz): what an extractor made, read by the
references that score them and by head backbones that train on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emoverify import plain_arrays
from emoverify.unavailable import FeaturesUnavailableError as FeaturesUnavailableError  # re-exported


class FeaturesError(ValueError):
    """A features file that does not cover the faces asked for, or a crop that cannot be read."""


@dataclass
class Features:
    """Descriptors of the usable faces of one experiment, and how they were made."""

    image_ids: np.ndarray  # str
    descriptors: np.ndarray  # N x D, float32
    extractor: str = "dlib"
    chip: str = "aligned_crop"  # where the extractor's input came from (the faces stage's aligned crop)
    chip_size: int = 150
    chip_padding: float = 0.25
    models: tuple[str, ...] = ()
    seconds: float = float("nan")

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def images_per_second(self) -> float:
        return len(self) / self.seconds if self.seconds > 0 else float("nan")

    def vectors(self, image_ids: Sequence[str]) -> np.ndarray:
        """The descriptors of ``image_ids`` in that order; FeaturesError naming ids the file lacks."""
        position = {image_id: index for index, image_id in enumerate(self.image_ids.tolist())}
        missing = [image_id for image_id in image_ids if image_id not in position]
        if missing:
            raise FeaturesError(
                f"{len(missing)} face(s) have no {self.extractor} descriptor (e.g. {missing[:3]}); the features "
                "file was made from another faces manifest: rerun the extract_features rule"
            )
        return self.descriptors[[position[image_id] for image_id in image_ids]]


def usable_crops(manifest) -> tuple[list[str], list[str]]:
    """The image ids and aligned-crop paths of the faces an extractor embeds (``status == ok``), in manifest
    order."""
    usable = manifest[manifest["status"] == "ok"]
    return usable["image_id"].astype(str).tolist(), usable["aligned_path"].astype(str).tolist()


def save_features(path, features: Features) -> None:
    np.savez_compressed(
        path,
        image_id=features.image_ids,
        descriptors=features.descriptors,
        extractor=features.extractor,
        chip=features.chip,
        chip_size=features.chip_size,
        chip_padding=features.chip_padding,
        models=np.asarray(features.models, dtype=str),
        seconds=features.seconds,
    )


def load_features(path) -> Features:
    data = plain_arrays.load_npz(path)
    return Features(
        image_ids=data["image_id"],
        descriptors=data["descriptors"],
        extractor=str(data["extractor"]),
        chip=str(data["chip"]),
        chip_size=int(data["chip_size"]),
        chip_padding=float(data["chip_padding"]),
        models=tuple(data["models"].tolist()),
        seconds=float(data["seconds"]),
    )
