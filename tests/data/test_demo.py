"""The synthetic demo: deterministic drawings whose faces MTCNN finds."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from emoverify.data import demo
from emoverify.vocabulary import UnknownExpressionError


def digest(folder) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.png"))
    }


def test_labels_csv_matches_the_returned_table_and_the_files(small_demo):
    root, table = small_demo
    on_disk = pd.read_csv(root / "labels.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(on_disk, table)
    assert len(table) == 3 * 7
    assert sorted(table["identity"].unique()) == ["id00", "id01", "id02"]
    assert table.groupby("identity")["emotion"].apply(sorted).map(tuple).nunique() == 1
    assert set(table["emotion"]) == set(demo.DEFAULT_EXPRESSIONS)
    for path in table["path"]:
        with Image.open(root / path) as image:
            assert (image.mode, image.size) == ("RGB", (160, 160))


def test_same_seed_same_pixels_other_seed_other_pixels(tmp_path):
    options = dict(n_identities=2, images_per_expression=1, expressions=("happy", "sad"), image_size=64)
    demo.generate_demo(tmp_path / "a", seed=5, **options)
    demo.generate_demo(tmp_path / "b", seed=5, **options)
    demo.generate_demo(tmp_path / "c", seed=6, **options)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    differing = [name for name, value in digest(tmp_path / "a").items() if digest(tmp_path / "c")[name] != value]
    assert len(differing) == 4


def test_expression_aliases_are_canonicalised(tmp_path):
    table = demo.generate_demo(
        tmp_path, n_identities=1, images_per_expression=1, expressions=("happy", "AN"), image_size=64
    )
    assert list(table["emotion"]) == ["happiness", "anger"]
    assert list(table["path"]) == ["images/id00/happiness_0.png", "images/id00/anger_0.png"]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(expressions=("bored",)), UnknownExpressionError),
        (dict(expressions=("happy", "happiness")), ValueError),
        (dict(expressions=()), ValueError),
        (dict(image_size=32), ValueError),
        (dict(n_identities=0), ValueError),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, error):
    with pytest.raises(error):
        demo.generate_demo(tmp_path, **kwargs)


def mouth_and_brow_difference(identity, first, second, seed=0):
    """Mean pixel difference between two expressions drawn with the same jitter."""
    images = [
        np.asarray(
            demo.draw_face(identity, demo.EXPRESSION_SHAPES[name], 128, np.random.default_rng(seed)), dtype=float
        )
        for name in (first, second)
    ]
    return np.abs(images[0] - images[1]).mean()


def test_expression_and_identity_change_the_drawing():
    person, other = (demo.random_identity(np.random.default_rng(i)) for i in (1, 2))
    assert person != other
    assert mouth_and_brow_difference(person, "neutral", "neutral") == 0
    for name in demo.EXPRESSION_SHAPES:
        if name != "neutral":
            assert mouth_and_brow_difference(person, "neutral", name) > 0.2, name
    same_jitter = [
        np.asarray(demo.draw_face(p, demo.EXPRESSION_SHAPES["neutral"], 128, np.random.default_rng(0)), dtype=float)
        for p in (person, other)
    ]
    assert np.abs(same_jitter[0] - same_jitter[1]).mean() > 5


def test_mtcnn_finds_the_demo_faces(small_demo):
    import torch  # noqa: F401  (torch before anything that might pull tensorflow)

    from emoverify.faces.detect import get_mtcnn

    root, table = small_demo
    images = np.stack([np.asarray(Image.open(root / path)) for path in table["path"]])
    _, probabilities, _ = get_mtcnn("cpu").detect(images, landmarks=True)
    found = [p is not None and p[0] is not None and float(np.max(p)) > 0.9 for p in probabilities]
    assert np.mean(found) >= 0.95, f"MTCNN found {sum(found)} of {len(found)} demo faces"
