"""The features stage's extractors by name: dlib (weights bundled in a PyPI package) and facenet-pytorch's
InceptionResnetV1 (weight files put on the machine by hand)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from emoverify.features.store import Features
from emoverify.registry import FEATURE_EXTRACTORS


def extract(
    manifest: pd.DataFrame, extractor: str, *, workers: int = 1, progress: Callable[[int], None] | None = None
) -> Features:
    """Descriptors of every usable face of ``manifest`` by ``extractor``; FeaturesUnavailableError saying what
    to install or where to put the weights when the extractor cannot run here."""
    if extractor == "dlib":
        from emoverify.features import dlib_descriptor

        model = dlib_descriptor.DlibDescriptor.load()
        return dlib_descriptor.extract_features(manifest, model=model, workers=workers, progress=progress)
    if extractor in FEATURE_EXTRACTORS:
        from emoverify.features import facenet_descriptor  # torch: only for the facenet extractors

        model, name = facenet_descriptor.load_model(extractor)
        return facenet_descriptor.extract_features(manifest, extractor, model=model, model_name=name, progress=progress)
    raise ValueError(f"unknown extractor {extractor!r}; choose one of {FEATURE_EXTRACTORS}")
