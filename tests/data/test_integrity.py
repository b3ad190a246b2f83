"""A dataset table lists every image once, under one identity; identical pictures under two people stop the
study; problems of a listing are reported all at once. On copies of JAFFE images (skipped without them)."""

import shutil

import pandas as pd
import pytest
from dataset_files import csv_dataset

from emoverify import study
from emoverify.data import snapshot
from emoverify.data.adapters import DatasetError, DatasetLabelError, load_dataset

JAFFE_FILES = ("KA.AN1.39.tiff", "KA.HA1.29.tiff", "KL.AN1.167.tiff", "KL.HA1.158.tiff", "KM.AN1.17.tiff")


@pytest.fixture
def jaffe_copies(jaffe_root, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in JAFFE_FILES:
        shutil.copy(jaffe_root / name, folder / name)
    return folder


def test_a_path_listed_twice_or_under_two_identities_stops_with_the_list(jaffe_copies, tmp_path):
    rows = [
        ("images/KA.AN1.39.tiff", "KA", "AN"),
        ("images/KA.AN1.39.tiff", "KA", "AN"),
        ("images/KL.AN1.167.tiff", "KL", "AN"),
        ("images/KL.AN1.167.tiff", "KM", "AN"),
    ]
    config = csv_dataset(tmp_path, rows)
    with pytest.raises(DatasetError) as error:
        snapshot.read_table(config, config["data_root"])
    message = str(error.value)
    assert "1 path(s) listed more than once: " in message and "KA.AN1.39.tiff" in message
    assert "1 path(s) listed under several identities: " in message and "KL.AN1.167.tiff under KL, KM" in message


def test_identical_pictures_under_two_identities_stop_the_study(jaffe_copies, tmp_path):
    shutil.copy(jaffe_copies / "KA.AN1.39.tiff", jaffe_copies / "copy.tiff")
    rows = [
        ("images/KA.AN1.39.tiff", "KA", "AN"),
        ("images/copy.tiff", "KL", "AN"),
        ("images/KA.HA1.29.tiff", "KA", ""),
    ]
    config = csv_dataset(tmp_path, rows)
    with pytest.raises(
        DatasetError,
        match=r"1 image\(s\) with identical content under several identities: .*"
        r"KA.AN1.39.tiff \(KA\) = .*copy.tiff \(KL\)",
    ):
        snapshot.read_table(config, config["data_root"])
    # in the workflow the same check stops Snakemake before any job
    with pytest.raises(study.ConfigError, match="identical content"):
        study.data_digest({**config, "folds": 2, "faces": {}, "demo": {}})


def test_identical_pictures_within_one_identity_are_noted(jaffe_copies, tmp_path):
    shutil.copy(jaffe_copies / "KA.AN1.39.tiff", jaffe_copies / "again.tiff")
    rows = [("images/KA.AN1.39.tiff", "KA", "AN"), ("images/again.tiff", "KA", "AN")]
    config = csv_dataset(tmp_path, rows)
    table = snapshot.read_table(config, config["data_root"], tmp_path / "hashes.csv")
    assert table["content_sha1"].nunique() == 1
    assert any("repeated with identical content within one identity" in note for note in table.attrs["notes"])
    cached = pd.read_csv(tmp_path / "hashes.csv")
    assert len(cached) == 2 and set(cached["content_sha1"]) == set(table["content_sha1"])


def test_every_unknown_expression_and_empty_identity_folder_in_one_message(jaffe_copies, tmp_path):
    root = tmp_path / "people"
    for person, expression, name in [("KA", "bored", JAFFE_FILES[0]), ("KL", "smirk", JAFFE_FILES[2])]:
        (root / person / expression).mkdir(parents=True)
        shutil.copy(jaffe_copies / name, root / person / expression / name)
    (root / "KL" / "meh").mkdir()
    shutil.copy(jaffe_copies / JAFFE_FILES[3], root / "KL" / "meh" / JAFFE_FILES[3])
    with pytest.raises(DatasetLabelError) as error:
        load_dataset("folder", root)
    message = str(error.value)
    assert (
        message.startswith("3 unknown expression label(s): 'bored' (") and "'meh'" in message and "'smirk'" in message
    )
    assert "expression_map" in message
    (root / "empty1").mkdir()
    (root / "empty2").mkdir()
    table = load_dataset("folder", root, expression_map={"bored": "neutral", "smirk": "contempt", "meh": "neutral"})
    assert table.attrs["notes"] == ["2 empty identity folder(s) skipped: empty1, empty2"]


def test_too_few_people_for_the_folds_stop_at_parse_time(jaffe_copies, tmp_path):
    rows = [(f"images/{name}", name[:2], name[3:5]) for name in JAFFE_FILES]  # KA 2, KL 2, KM 1 images
    config = {**csv_dataset(tmp_path, rows), "faces": {}, "demo": {}}
    with pytest.raises(study.ConfigError, match="2 of the 3 identities have two or more usable faces.*even folds=2"):
        study.data_digest({**config, "folds": 2})
