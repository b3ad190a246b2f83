"""dlib's descriptors of the faces stage's crops: on the demo, on JAFFE, repeatable, and a clear message when
dlib or its model files are missing."""

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from emoverify.data.adapters import load_dataset
from emoverify.data.imageio import read_rgb
from emoverify.faces.detect import FaceSettings, prepare_faces
from emoverify.features import dlib_descriptor
from emoverify.features.dlib_descriptor import (
    CHIP_SIZE,
    DESCRIPTOR_SIZE,
    DlibDescriptor,
    extract_features,
)
from emoverify.features.store import Features, FeaturesError, FeaturesUnavailableError, load_features, save_features

INSTALL = "pip install dlib-bin face-recognition-models"


@pytest.fixture(scope="module")
def model():
    return DlibDescriptor.load()


@pytest.fixture(scope="module")
def demo_manifest(small_demo, tmp_path_factory):
    """The small demo's faces (detector none, 64 px crops: smaller than the chip) and one unusable row."""
    table = load_dataset("demo", small_demo[0])
    missing = table.iloc[[0]].assign(image_id="gone", path=str(small_demo[0] / "gone.png"))
    manifest = prepare_faces(
        pd.concat([table, missing]), tmp_path_factory.mktemp("crops"), FaceSettings(detector="none", size=64)
    )
    assert manifest["status"].tolist().count("ok") == len(table)
    return manifest


def test_demo_faces_get_one_descriptor_each_in_manifest_order(model, demo_manifest):
    progress = []
    features = extract_features(demo_manifest, model=model, batch_size=8, progress=progress.append)
    usable = demo_manifest[demo_manifest["status"] == "ok"]
    assert features.image_ids.tolist() == usable["image_id"].tolist() and "gone" not in features.image_ids
    assert features.descriptors.shape == (len(usable), DESCRIPTOR_SIZE)
    assert features.descriptors.dtype == np.float32 and np.isfinite(features.descriptors).all()
    assert progress == [8, 8, 5] and sum(progress) == len(usable)
    assert features.chip == "aligned_crop" and set(features.models) == {
        "shape_predictor_5_face_landmarks.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
    }
    # dlib's descriptors are not unit vectors; distinct drawings give distinct vectors
    norms = np.linalg.norm(features.descriptors, axis=1)
    assert (norms > 0.5).all() and (norms < 3).all()
    assert len(np.unique(features.descriptors.round(4), axis=0)) == len(usable)
    assert features.images_per_second > 0


def test_descriptors_are_repeatable_and_independent_of_batches_and_processes(model, demo_manifest):
    first = extract_features(demo_manifest, model=model, batch_size=16)
    again = extract_features(demo_manifest, model=model, batch_size=5)
    forked = extract_features(demo_manifest, model=model, batch_size=4, workers=2)
    assert np.array_equal(first.descriptors, again.descriptors)
    assert np.array_equal(first.descriptors, forked.descriptors)
    assert first.image_ids.tolist() == forked.image_ids.tolist()


def test_a_small_crop_is_enlarged_to_the_chip_and_a_box_cuts_from_the_image(model, demo_manifest):
    crop = read_rgb(demo_manifest["aligned_path"].iloc[0])
    assert crop.shape == (64, 64, 3)
    chip = model.chip(crop)
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3) and chip.dtype == np.uint8 and chip.std() > 10
    native = model.chip(crop, (0, 0, 63, 63))  # the same face without enlarging first: close, not identical
    assert native.shape == chip.shape and not np.array_equal(native, chip)
    vectors = model.describe([chip, native])
    assert np.linalg.norm(vectors[0] - vectors[1]) < 0.3


def test_features_file_round_trips_and_serves_folds_in_their_order(tmp_path):
    rng = np.random.default_rng(0)
    features = Features(np.array(["a", "b", "c"]), rng.normal(size=(3, 128)).astype(np.float32), models=("x", "y"))
    save_features(tmp_path / "dlib.npz", features)
    loaded = load_features(tmp_path / "dlib.npz")
    assert loaded.image_ids.tolist() == ["a", "b", "c"] and loaded.models == ("x", "y")
    assert (loaded.extractor, loaded.chip) == ("dlib", "aligned_crop")
    assert np.array_equal(loaded.vectors(["c", "a"]), features.descriptors[[2, 0]])
    with pytest.raises(FeaturesError, match="1 face.*'z'.*extract_features"):
        loaded.vectors(["a", "z"])


def test_an_unreadable_crop_names_the_file(model, tmp_path):
    manifest = pd.DataFrame({"image_id": ["x"], "status": ["ok"], "aligned_path": [str(tmp_path / "x.png")]})
    with pytest.raises(FeaturesError, match="x.png.*faces stage"):
        extract_features(manifest, model=model)


def test_jaffe_descriptors_tell_people_apart(jaffe_root, tmp_path):
    """Two images of each of three people, copied to tmp, through MTCNN and dlib: every same-person pair is
    closer than every other pair. (dlib's LFW threshold 0.6 does not transfer: these women lie 0.45-0.55 apart.)"""
    chosen = ["KA.AN1.39", "KA.HA1.29", "KL.NE1.155", "KL.SU1.164", "YM.DI1.64", "YM.SA1.55"]
    folder = tmp_path / "jaffe"
    folder.mkdir()
    for name in chosen:
        shutil.copy(jaffe_root / f"{name}.tiff", folder)
    manifest = prepare_faces(load_dataset("jaffe", folder), tmp_path / "crops")
    assert (manifest["status"] == "ok").all()
    features = extract_features(manifest)
    person = np.array([image_id.split(".")[0] for image_id in features.image_ids])
    distances = np.linalg.norm(features.descriptors[:, None] - features.descriptors[None], axis=2)
    same = person[:, None] == person[None]
    off_diagonal = ~np.eye(len(person), dtype=bool)
    assert distances[same & off_diagonal].max() < distances[~same].min(), distances.round(2)


def test_missing_dlib_names_the_pip_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    with pytest.raises(FeaturesUnavailableError, match=INSTALL):
        DlibDescriptor.load()


def test_missing_model_package_or_file_names_the_pip_packages(monkeypatch, tmp_path):
    (tmp_path / dlib_descriptor.SHAPE_PREDICTOR_FILE).write_bytes(b"")
    with pytest.raises(FeaturesUnavailableError, match=f"dlib_face_recognition_resnet_model_v1.dat.*{INSTALL}"):
        dlib_descriptor.model_files(tmp_path)
    real = dlib_descriptor.importlib.util.find_spec
    monkeypatch.setattr(
        dlib_descriptor.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "face_recognition_models" else real(name, *args),
    )
    with pytest.raises(FeaturesUnavailableError, match=f"face_recognition_models is not installed.*{INSTALL}"):
        DlibDescriptor.load()
