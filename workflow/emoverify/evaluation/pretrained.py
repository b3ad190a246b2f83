"""References from the features stage: a pretrained recognizer's cached descriptors of a fold's faces."""

from __future__ import annotations

import numpy as np

from emoverify.features import dlib_descriptor
from emoverify.features.store import load_features
from emoverify.splits.fold_data import FaceSet

# How each recognizer compares its descriptors: dlib by Euclidean distance (0.6 is its same-person threshold).
# facenet's descriptors are L2-normalised: cosine.
GEOMETRY: dict[str, str] = {
    dlib_descriptor.EXTRACTOR: "euclidean",
    "facenet_vggface2": "spherical",
    "facenet_casia": "spherical",
}
# The fold's crops are read with the faces' labels, but these references never look at the pixels.
UNUSED_IMAGE_SIZE = 16


def fold_embeddings(features_path, faces: dict[str, FaceSet]) -> dict[str, np.ndarray]:
    """The cached descriptors of every split's faces, in the splits' order."""
    features = load_features(features_path)
    return {split: features.vectors(subset.image_ids) for split, subset in faces.items()}
