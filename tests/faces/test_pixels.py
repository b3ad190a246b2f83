"""The pixel cache (faces/pixels_<size>.npy): exactly the decoded crops, what a job loads and trains on is the
same with it as without, and a cache that does not belong to the job's manifest or size stops the job."""

import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import EVALUATION, TRAINING, TRIPLET

from emoverify.data.adapters import load_dataset
from emoverify.data.demo import generate_demo
from emoverify.evaluation.jobs import evaluate_runs, output_pairs
from emoverify.faces.detect import FaceSettings, prepare_faces
from emoverify.faces.pixels import PixelCache, PixelCacheError, build_pixel_cache, decode_crops
from emoverify.labels.sources import LabelSource
from emoverify.layout import Run
from emoverify.splits.fold_data import FoldFiles, load_fold, load_images, load_rule_fold
from emoverify.splits.folds import make_folds
from emoverify.training.fold import prepare_fold
from emoverify.training.jobs import JobSettings, run_outputs, train_runs
from emoverify.training.settings import TrainingSettings

SIZE = TRAINING["input_size"]  # 32 px: the 48 px crops are resized, as a job does


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A demo's faces (8 people x 7 expressions, 48 px crops, no detector) with one missing image, its folds,
    and its pixel cache at the training input size."""
    root = tmp_path_factory.mktemp("pixels")
    generate_demo(root / "images", n_identities=8, images_per_expression=1, image_size=64, seed=3)
    table = load_dataset("demo", root / "images")
    missing = table.iloc[[0]].assign(image_id="gone", path=str(root / "gone.png"))
    manifest = prepare_faces(pd.concat([table, missing]), root / "crops", FaceSettings(detector="none", size=48))
    assert (manifest["status"] == "ok").sum() == len(table) and "gone" in set(manifest["image_id"])
    manifest.to_csv(root / "manifest.csv", index=False)
    make_folds(manifest, n_folds=2, seed=0, val_fraction=0.34).to_csv(root / "folds.csv", index=False)
    record = build_pixel_cache(root / "manifest.csv", SIZE, root / "pixels.npy", root / "pixels.json")
    return root, manifest, record


def cache_paths(root):
    return root / "pixels.npy", root / "pixels.json"


def fold(root, pixels=None, splits=("train", "val")):
    files = FoldFiles(root / "manifest.csv", root / "folds.csv", pixels=pixels)
    return load_fold(files, 0, SIZE, label_source=LabelSource("manual"), splits=splits)


def test_the_cache_holds_exactly_the_decoded_crops_of_the_usable_faces(study):
    root, manifest, record = study
    usable = manifest[manifest["status"] == "ok"]
    assert record["rows"] == len(usable) and record["image_ids"] == usable["image_id"].tolist()
    cached = np.load(root / "pixels.npy")
    assert cached.dtype == np.uint8 and cached.shape == (len(usable), 3, SIZE, SIZE)
    decoded = load_images(usable["aligned_path"].tolist(), SIZE).numpy()
    np.testing.assert_array_equal(cached, decoded)
    # at the crops' own size nothing is resized, and the bytes are the PNGs' pixels
    build_pixel_cache(root / "manifest.csv", 48, root / "native.npy", root / "native.json")
    native = np.load(root / "native.npy")
    np.testing.assert_array_equal(native.transpose(0, 2, 3, 1), decode_crops(usable["aligned_path"].tolist(), 48))
    assert json.loads((root / "pixels.json").read_text())["manifest_sha1"] == record["manifest_sha1"]


def test_a_fold_from_the_cache_equals_the_decoded_fold(study):
    root, _, _ = study
    decoded, cached = fold(root), fold(root, pixels=cache_paths(root))
    for split in ("train", "val"):
        assert cached[split].image_ids == decoded[split].image_ids
        assert cached[split].images.dtype == torch.uint8 and cached[split].images.is_contiguous()
        assert torch.equal(cached[split].images, decoded[split].images)
        np.testing.assert_array_equal(cached[split].expressions, decoded[split].expressions)


def test_jobs_reading_the_cache_write_the_same_model_and_metrics(study, tmp_path):
    """The training and evaluation jobs' own functions, once on decoded crops and once on the cache."""
    root, _, _ = study
    run = Run("tl", "none", 0, 0)
    written = {}
    for name, pixels in (("decoded", None), ("cached", cache_paths(root))):
        folder = tmp_path / name
        folder.mkdir()
        model, history = str(folder / "model.pt"), str(folder / "history.csv")
        faces = fold(root, pixels)
        train_runs(
            prepare_fold(faces["train"], faces["val"]),
            [run],
            run_outputs(model, history),
            method=TRIPLET,
            settings=TrainingSettings.from_recipe(TRAINING),
            job=JobSettings(2, torch.device("cpu"), io.StringIO()),
        )
        outputs = output_pairs(str(folder / "embeddings.npz"), str(folder / "metrics.json"))
        evaluate_runs(
            [run],
            [model],
            outputs,
            lambda size, pixels=pixels: fold(root, pixels, splits=("val", "test")),
            device=torch.device("cpu"),
            evaluation=EVALUATION,
        )
        state = torch.load(model, weights_only=True)["model_state"]
        written[name] = (state, pd.read_csv(history).drop(columns="seconds"), folder)
    (decoded_state, decoded_history, decoded_dir), (cached_state, cached_history, cached_dir) = written.values()
    assert decoded_state.keys() == cached_state.keys()
    for key in decoded_state:
        assert torch.equal(decoded_state[key], cached_state[key]), key
    pd.testing.assert_frame_equal(decoded_history, cached_history)
    assert (
        json.loads((decoded_dir / "metrics.json").read_text())["metrics"]
        == json.loads((cached_dir / "metrics.json").read_text())["metrics"]
    )
    with np.load(decoded_dir / "embeddings.npz") as one, np.load(cached_dir / "embeddings.npz") as other:
        assert one.files == other.files
        for key in one.files:
            np.testing.assert_array_equal(one[key], other[key])


def test_a_cache_of_another_manifest_stops_the_job(study, tmp_path):
    root, manifest, _ = study
    changed = manifest.copy()
    changed.loc[1, "emotion_manual"] = "surprise" if changed.loc[1, "emotion_manual"] != "surprise" else "anger"
    changed.to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(PixelCacheError, match="another faces manifest.*face_pixels"):
        PixelCache(*cache_paths(root), tmp_path / "manifest.csv", SIZE)


def test_a_cache_of_another_size_or_with_wrong_rows_stops_the_job(study, tmp_path):
    root, manifest, record = study
    with pytest.raises(PixelCacheError, match="holds 32 px faces, the job needs 40 px"):
        PixelCache(*cache_paths(root), root / "manifest.csv", 40)
    np.save(tmp_path / "short.npy", np.load(root / "pixels.npy")[:-1])
    with pytest.raises(PixelCacheError, match=r"shape \(55, 3, 32, 32\).*its record says \(56, 3, 32, 32\)"):
        PixelCache(tmp_path / "short.npy", root / "pixels.json", root / "manifest.csv", SIZE)
    cache = PixelCache(*cache_paths(root), root / "manifest.csv", SIZE)
    assert len(cache) == 56 and isinstance(cache.array, np.memmap)
    with pytest.raises(PixelCacheError, match="1 face.*'gone'.*status ok"):
        cache.rows([record["image_ids"][0], "gone"])


def test_a_manifest_without_crop_paths_is_refused(tmp_path):
    pd.DataFrame({"image_id": ["a"], "status": ["ok"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(PixelCacheError, match=r"not a faces manifest.*\['aligned_path'\]"):
        build_pixel_cache(tmp_path / "m.csv", SIZE, tmp_path / "p.npy", tmp_path / "p.json")


class RuleInputs(dict):
    """A rule's named inputs as the scripts see them (attributes and ``get``)."""

    __getattr__ = dict.__getitem__


def test_a_rules_inputs_name_the_fold_files_and_load_as_load_fold_does(study):
    root, _, _ = study
    plain = RuleInputs(manifest=str(root / "manifest.csv"), folds=str(root / "folds.csv"))
    assert FoldFiles.of_rule(plain) == FoldFiles(str(root / "manifest.csv"), str(root / "folds.csv"))
    cached = RuleInputs(plain, pixels="a.npy", pixels_record="a.json", detected="d.csv", dlib_chips="c.npz")
    files = FoldFiles.of_rule(cached)
    assert files.pixels == ("a.npy", "a.json") and files.detected == "d.csv" and files.dlib_chips == "c.npz"
    assert files.head_features is None and files.dlib_activations is None
    run = SimpleNamespace(fold=0, repeat=0)
    labels = LabelSource("manual").to_params()
    through_rule = load_rule_fold(plain, run, SIZE, labels, ("train",))["train"]
    direct = fold(root, splits=("train",))["train"]
    assert through_rule.image_ids == direct.image_ids and torch.equal(through_rule.images, direct.images)
