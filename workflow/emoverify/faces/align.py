"""Face alignment: a similarity transform from five landmarks to a canonical template.

The template is the five-point template of ArcFace/insightface for 112x112 crops
(left eye, right eye, nose tip, left and right mouth corners, as seen in the image),
rescaled to the output size. ``margin`` adds a border around the face: the template
is shrunk about the crop centre by ``1 / (1 + margin)``, so ``margin=0.2`` shows
20% more context than the plain ArcFace crop.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],  # left eye (image left)
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    dtype=np.float64,
)
ARCFACE_SIZE = 112


class AlignmentError(ValueError):
    """Landmarks that cannot define a similarity transform (missing, NaN or all at one point)."""


def canonical_template(size: int = ARCFACE_SIZE, margin: float = 0.0) -> np.ndarray:
    """Return the (5, 2) template landmark positions for a ``size`` x ``size`` crop."""
    if size <= 0:
        raise ValueError(f"output size must be positive, got {size}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (a fraction of the face size added as border), got {margin}")
    unit = ARCFACE_TEMPLATE_112 / ARCFACE_SIZE
    return ((unit - 0.5) / (1.0 + margin) + 0.5) * size


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping src onto dst.

    Umeyama (1991), without reflection. Returns the 2x3 matrix ``M`` with
    ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = _as_points(src)
    dst = _as_points(dst)
    if src.shape != dst.shape:
        raise AlignmentError(f"landmark arrays differ in shape: {src.shape} vs {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise AlignmentError("landmarks all lie at one point; cannot estimate a similarity transform")
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    signs = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        signs[-1] = -1.0  # forbid reflections
    rotation = u @ np.diag(signs) @ vt
    scale = float((singular * signs).sum() / src_var)
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def alignment_matrix(landmarks: np.ndarray, size: int = ARCFACE_SIZE, margin: float = 0.0) -> np.ndarray:
    """The 2x3 matrix that maps image coordinates onto the aligned crop's coordinates."""
    return umeyama_similarity(landmarks, canonical_template(size, margin))


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = ARCFACE_SIZE, margin: float = 0.0) -> np.ndarray:
    """Warp an RGB uint8 image so that its five landmarks land on the canonical template.

    Returns a ``size`` x ``size`` x 3 uint8 array; areas outside the source image are black.
    """
    matrix = alignment_matrix(landmarks, size, margin)
    inverse = _invert_affine(matrix)
    warped = Image.fromarray(np.ascontiguousarray(image)).transform(
        (size, size), Image.Transform.AFFINE, data=tuple(inverse.ravel()), resample=Image.Resampling.BILINEAR
    )
    return np.asarray(warped)


def _invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (PIL's transform wants output -> input)."""
    linear_inverse = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear_inverse, (-linear_inverse @ matrix[:, 2])[:, None]])


def _as_points(points: np.ndarray) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) < 2:
        raise AlignmentError(f"expected landmarks of shape (N>=2, 2), got {array.shape}")
    if not np.isfinite(array).all():
        raise AlignmentError("landmarks contain NaN or infinite values")
    return array
