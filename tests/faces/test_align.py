"""Similarity alignment of five landmarks onto the ArcFace template."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emoverify.faces.align import (
    ARCFACE_TEMPLATE_112,
    AlignmentError,
    align_face,
    alignment_matrix,
    apply_transform,
    canonical_template,
    umeyama_similarity,
)


def similarity(scale, angle, tx, ty) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


def test_template_at_112_without_margin_is_arcface():
    np.testing.assert_allclose(canonical_template(112, 0.0), ARCFACE_TEMPLATE_112)


def test_template_scales_with_size():
    np.testing.assert_allclose(canonical_template(224), ARCFACE_TEMPLATE_112 * 2)


def test_margin_shrinks_the_face_about_the_centre():
    plain, wide = canonical_template(112), canonical_template(112, margin=0.25)
    eye_distance = lambda t: np.linalg.norm(t[1] - t[0])  # noqa: E731
    assert eye_distance(wide) == pytest.approx(eye_distance(plain) / 1.25)
    np.testing.assert_allclose(wide - 56, (plain - 56) / 1.25)


def test_negative_margin_or_size_is_refused():
    with pytest.raises(ValueError, match="margin"):
        canonical_template(112, -0.1)
    with pytest.raises(ValueError, match="size"):
        canonical_template(0)


@settings(max_examples=60, deadline=None)
@given(
    scale=st.floats(0.2, 5.0),
    angle=st.floats(-math.pi, math.pi),
    tx=st.floats(-300, 300),
    ty=st.floats(-300, 300),
    seed=st.integers(0, 10_000),
)
def test_umeyama_recovers_an_exact_similarity(scale, angle, tx, ty, seed):
    src = np.random.default_rng(seed).uniform(0, 200, (5, 2))
    src += np.array([[0, 0], [50, 0], [0, 50], [30, 80], [90, 10]])  # never degenerate
    truth = similarity(scale, angle, tx, ty)
    estimated = umeyama_similarity(src, apply_transform(truth, src))
    np.testing.assert_allclose(estimated, truth, atol=1e-7 * max(1.0, abs(tx), abs(ty)))


def test_landmarks_of_a_transformed_face_land_exactly_on_the_template():
    template = canonical_template(160, margin=0.1)
    image_to_crop = similarity(0.4, 0.3, -20, 15)
    inverse = np.linalg.inv(np.vstack([image_to_crop, [0, 0, 1]]))[:2]
    landmarks = apply_transform(inverse, template)  # where the face sits in the image
    matrix = alignment_matrix(landmarks, size=160, margin=0.1)
    np.testing.assert_allclose(apply_transform(matrix, landmarks), template, atol=1e-9)


def test_least_squares_beats_perturbed_solutions_on_noisy_points():
    rng = np.random.default_rng(1)
    src = ARCFACE_TEMPLATE_112 * 2 + 40
    dst = apply_transform(similarity(0.6, -0.2, 10, 5), src) + rng.normal(0, 2, src.shape)
    best = umeyama_similarity(src, dst)
    best_error = ((apply_transform(best, src) - dst) ** 2).sum()
    for _ in range(50):  # perturb within the similarity family: (a, b, tx, ty) of [[a, -b, tx], [b, a, ty]]
        da, db, dx, dy = rng.normal(0, [0.01, 0.01, 0.5, 0.5])
        other = best + np.array([[da, -db, dx], [db, da, dy]])
        assert ((apply_transform(other, src) - dst) ** 2).sum() >= best_error


def test_mirrored_landmarks_give_a_rotation_not_a_reflection():
    src = ARCFACE_TEMPLATE_112.copy()
    mirrored = src * np.array([-1, 1])
    linear = umeyama_similarity(src, mirrored)[:, :2]
    assert np.linalg.det(linear) > 0


def test_align_face_moves_landmark_pixels_onto_the_template():
    size = 112
    template = canonical_template(size)
    crop_to_image = similarity(2.3, 0.25, 120, 70)
    landmarks = apply_transform(crop_to_image, template)
    image = np.zeros((400, 420, 3), dtype=np.uint8)
    for x, y in landmarks:
        image[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3] = 255
    crop = align_face(image, landmarks, size=size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    bright = crop[:, :, 0] > 100
    for x, y in template:
        window = bright[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3]
        assert window.any(), f"no landmark pixel near template point ({x:.1f}, {y:.1f})"
    assert bright.sum() < 5 * 25  # and nothing bright elsewhere


@pytest.mark.parametrize(
    "landmarks, message",
    [
        (np.full((5, 2), 7.0), "one point"),
        (np.array([[1.0, np.nan]] * 5), "NaN"),
        (np.zeros((5, 3)), "shape"),
    ],
)
def test_degenerate_landmarks_raise_alignment_error(landmarks, message):
    with pytest.raises(AlignmentError, match=message):
        alignment_matrix(landmarks)
