"""A unit job reads dlib's activation cache once for all its label sources, gives every load the rows a fresh
read gives, and reads again (and checks the chips again) when either file changes."""

import numpy as np
import pandas as pd
import pytest
import torch

from emoverify.data.integrity import file_sha1
from emoverify.features.chips import Chips, load_chips, save_chips
from emoverify.features.dlib_activations import Activations, load_activations, save_activations
from emoverify.features.store import FeaturesError
from emoverify.labels.sources import LabelSource
from emoverify.splits import fold_data

PEOPLE, IMAGES = 6, 4
SOURCES = (LabelSource("manual"), LabelSource("shuffled", shuffle_base="manual"))


@pytest.fixture
def experiment(tmp_path):
    ids = [f"p{person}_{image}" for person in range(PEOPLE) for image in range(IMAGES)]
    people = [image_id.split("_")[0] for image_id in ids]
    emotions = ["neutral", "happiness"] * (len(ids) // 2)
    manifest = pd.DataFrame(
        {"image_id": ids, "identity": people, "status": "ok", "emotion_manual": emotions, "session": ""}
    )
    split = {"p0": "test", "p1": "val", "p5": "test"}
    folds = pd.DataFrame(
        {"repeat": 0, "fold": 0, "image_id": ids, "split": [split.get(person, "train") for person in people]}
    )
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    folds.to_csv(tmp_path / "folds.csv", index=False)
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, (len(ids), 3, 150, 150), dtype=np.uint8)
    none = np.array([], dtype=str)
    save_chips(tmp_path / "chips.npz", Chips(np.array(ids), chips, none, none))
    write_cache(tmp_path, rng)
    fold_data._read_dlib_cache.cache_clear()
    return tmp_path


def write_cache(folder, rng) -> None:
    ids = load_chips(folder / "chips.npz").image_ids
    rows = [rng.normal(size=(len(ids), 256, 4, 4)).astype(np.float32) for _ in range(2)]
    sha1 = file_sha1(folder / "chips.npz")
    save_activations(folder / "cache.npz", Activations(ids, *rows, "level0", sha1, "w.dat", "0" * 40))


def load(folder, source):
    files = fold_data.FoldFiles(
        str(folder / "manifest.csv"),
        str(folder / "folds.csv"),
        dlib_chips=str(folder / "chips.npz"),
        dlib_activations=str(folder / "cache.npz"),
    )
    return fold_data.load_fold(files, 0, 150, label_source=source)


def counting_reads(monkeypatch) -> list[str]:
    reads = []

    def read(path, *args, **kwargs):
        reads.append(path)
        return load_activations(path, *args, **kwargs)

    monkeypatch.setattr(fold_data, "load_activations", read)
    return reads


def test_every_label_source_gets_a_fresh_reads_rows_from_one_read(experiment, monkeypatch):
    reads = counting_reads(monkeypatch)
    loaded = [load(experiment, source) for source in SOURCES]
    assert len(reads) == 1
    fresh = load_activations(experiment / "cache.npz")
    for faces in loaded:
        for split, face_set in faces.items():
            plain, mirrored = fresh.rows(face_set.image_ids)
            assert len(face_set) and torch.equal(face_set.images, torch.from_numpy(plain)), split
            assert torch.equal(face_set.mirrored, torch.from_numpy(mirrored)), split
    # the loads differ in their labels only, and share no rows another load could change
    assert loaded[0]["train"].images is not loaded[1]["train"].images
    assert (loaded[0]["train"].expressions != loaded[1]["train"].expressions).any()


def test_a_rewritten_cache_is_read_again_and_changed_chips_stop_the_job(experiment, monkeypatch):
    reads = counting_reads(monkeypatch)
    first = load(experiment, SOURCES[0])
    write_cache(experiment, np.random.default_rng(1))
    second = load(experiment, SOURCES[0])
    assert len(reads) == 2 and not torch.equal(first["train"].images, second["train"].images)
    changed = load_chips(experiment / "chips.npz")
    changed.chips[0, 0, 0, 0] ^= 1
    save_chips(experiment / "chips.npz", changed)
    with pytest.raises(FeaturesError, match="computed from other chips"):
        load(experiment, SOURCES[0])
