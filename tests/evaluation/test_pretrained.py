"""A pretrained recognizer's cached descriptors scored like a run: Euclidean, threshold from validation people."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emoverify.evaluation import jobs, pretrained
from emoverify.features.store import Features, FeaturesError, save_features
from emoverify.layout import reference_run
from emoverify.splits.fold_data import FaceSet

EVALUATION = {"exclude_same_session": True, "rank1_draws": 3}


def face_set(ids: list[str]) -> FaceSet:
    return FaceSet(
        image_ids=ids,
        images=torch.zeros((len(ids), 3, 16, 16), dtype=torch.uint8),
        identities=np.array([image_id.split("_")[0] for image_id in ids]),
        sessions=np.array([""] * len(ids)),
        expressions=np.full(len(ids), -1),
        manual_expressions=np.full(len(ids), -1),
    )


@pytest.fixture
def features_file(tmp_path):
    """Four people, three images each: descriptors near a person's centre, people 1.0 apart (dlib's scale)."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True) * np.sqrt(2)  # pairwise distances about 1
    ids = [f"p{person}_{image}" for person in range(4) for image in range(3)]
    vectors = np.stack([centres[int(i[1])] + rng.normal(scale=0.01, size=128) for i in ids]).astype(np.float32)
    path = tmp_path / "dlib.npz"
    save_features(path, Features(np.array(ids[::-1]), vectors[::-1]))  # file order differs from the folds'
    return path


def test_fold_embeddings_follow_each_split_and_score_euclidean(features_file, tmp_path):
    faces = {"val": face_set(["p0_0", "p0_1", "p1_2", "p1_0"]), "test": face_set(["p3_2", "p2_0", "p2_1", "p3_0"])}
    embeddings = pretrained.fold_embeddings(features_file, faces)
    assert embeddings["test"].shape == (4, 128)
    assert np.linalg.norm(embeddings["test"][1] - embeddings["test"][2]) < 0.2  # p2_0 and p2_1
    runs = [reference_run("dlib", 0, seed) for seed in (0, 1)]
    outputs = [SimpleNamespace(embeddings=tmp_path / f"e{i}.npz", metrics=tmp_path / f"m{i}.json") for i in (0, 1)]
    # the evaluate_reference rule's path: one job scores every seed of the fold
    jobs.evaluate_references(runs, outputs, faces, {}, device=None, evaluation=EVALUATION, features=features_file)
    for run, output in zip(runs, outputs):
        record = json.loads(output.metrics.read_text())
        assert (record["method"], record["seed"]) == ("dlib", run.seed)
        assert record["geometry"] == "euclidean" and record["reference"] is True
        values = record["metrics"]
        assert values["auc"] == 1.0 and values["rank1"] == 1.0
        assert -1.0 < values["threshold"] < -0.05  # minus a Euclidean distance, chosen on the validation people
        with np.load(output.embeddings) as saved:
            assert str(saved["metric"]) == "euclidean" and saved["image_id"].tolist() == faces["test"].image_ids
            assert np.array_equal(saved["embeddings"], embeddings["test"])


def test_faces_missing_from_the_features_file_are_an_error(features_file):
    with pytest.raises(FeaturesError, match="extract_features"):
        pretrained.fold_embeddings(features_file, {"test": face_set(["p9_0"])})
