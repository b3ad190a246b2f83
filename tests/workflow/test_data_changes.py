"""The dataset is an input: on a finished tiny study (a csv of JAFFE copies), an untouched dataset plans nothing,
any change of its table (a label, an image's content, a new image) reruns it and what follows, and the faces
stage detects only new or changed images (the rest come from its cache). Skipped without JAFFE."""

import os
import shutil

import pandas as pd
import pytest

from snakemake_helpers import TINY_JAFFE, planned_jobs, snakemake, write_study_config

PEOPLE = ("KA", "KL", "KM", "KR", "MK")
EXPRESSIONS = ("AN", "HA", "SA")
STUDY = {
    **TINY_JAFFE,
    "experiment": "changes",
    "dataset": "csv",
    "faces": {"detector": "mtcnn", "size": 64},
    "training": {**TINY_JAFFE["training"], "images_per_identity": 2, "batches_per_epoch": 2},
}
# any data change: the table, the faces stage (only new or changed images detected), and everything after it
EVERYTHING_AFTER_THE_TABLE = {
    "dataset": 1,
    "detect_align": 1,
    "check_manual_labels": 1,
    "detect_expressions": 1,
    "label_agreement": 1,
    "make_splits": 1,
    "face_pixels": 1,  # the faces decoded once for the trainings, evaluations and the pixel reference
    "train_run": 4,  # tl and tl_pdp (manual) on 2 folds
    "evaluate_run": 4,
    "extract_features": 1,  # dlib's descriptors of the faces
    "evaluate_reference": 6,  # pixels, untrained and dlib on 2 folds
    "pair_counts": 1,
    "aggregate": 1,
    "manipulation": 1,
    "all": 1,
}


@pytest.fixture(scope="module")
def jaffe_file(jaffe_root):
    """The path of a person's ``which``-th take of an expression in JAFFE."""

    def path(person: str, expression: str, which: int = 0):
        return sorted(jaffe_root.glob(f"{person}.{expression}*.tiff"))[which]

    return path


@pytest.fixture(scope="module")
def changes_study(jaffe_file, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("data_changes")
    images = workdir / "data" / "images"
    images.mkdir(parents=True)
    rows = []
    for person in PEOPLE:
        for expression in EXPRESSIONS:
            source = jaffe_file(person, expression)
            shutil.copy(source, images / source.name)
            rows.append({"path": f"images/{source.name}", "identity": person, "emotion": expression})
    pd.DataFrame(rows).to_csv(workdir / "data" / "labels.csv", index=False)
    write_study_config(workdir / "study.yaml", STUDY, data_root=str(workdir / "data"))
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture
def data(changes_study):
    """The study's data folder, restored after the test (content and times) so tests do not see each other's edits."""
    folder = changes_study / "data"
    backup = changes_study / "backup"
    shutil.copytree(folder, backup, copy_function=shutil.copy2)
    yield folder
    shutil.rmtree(folder)
    backup.rename(folder)


def test_an_untouched_dataset_plans_nothing(changes_study, data):
    (data / "labels.csv").touch()  # a newer file time alone is no change
    assert planned_jobs(changes_study) == {}


def test_editing_one_csv_label_reruns_from_the_table(data, changes_study):
    table = pd.read_csv(data / "labels.csv")
    table.loc[0, "emotion"] = "HA"
    table.to_csv(data / "labels.csv", index=False)
    assert planned_jobs(changes_study) == EVERYTHING_AFTER_THE_TABLE


def test_replacing_one_image_content_is_a_change(data, changes_study, jaffe_file):
    first = sorted((data / "images").iterdir())[0]
    shutil.copy(jaffe_file(first.name[:2], first.name[3:5], 1), first)  # another take of the same person
    assert planned_jobs(changes_study) == EVERYTHING_AFTER_THE_TABLE


def test_an_image_replaced_at_the_same_size_with_its_time_restored_is_a_change(data, changes_study, jaffe_file):
    """JAFFE's TIFFs all have one size; re-extracting a corrected archive keeps the times: the hash cache must
    not trust (path, size, mtime) alone."""
    image = data / "images" / jaffe_file("KA", "HA").name
    before = image.stat()
    shutil.copyfile(jaffe_file("KA", "HA", 1), image)  # another take of the same size
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (image.stat().st_size, image.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert planned_jobs(changes_study) == EVERYTHING_AFTER_THE_TABLE


def test_adding_one_image_reruns_and_detects_only_that_image(data, changes_study, jaffe_file):
    source = jaffe_file("KA", "SU")
    shutil.copy(source, data / "images" / source.name)
    table = pd.read_csv(data / "labels.csv")
    table.loc[len(table)] = [f"images/{source.name}", "KA", "SU"]
    table.to_csv(data / "labels.csv", index=False)
    assert planned_jobs(changes_study) == EVERYTHING_AFTER_THE_TABLE
    result = snakemake(changes_study, "--cores", "2", "faces")
    console = result.stdout + result.stderr
    assert f"({len(PEOPLE) * len(EXPRESSIONS)} taken from the cache, 1 read and detected)" in console
    assert f"faces: {len(PEOPLE) * len(EXPRESSIONS) + 1} ok" in console
