"""The head-run cost benchmark at a tiny size: both figures measured, their ratio and record consistent."""

import json

import pytest

from benchmarks.micro import head_runs


def test_the_benchmark_times_import_torch_and_a_batched_unit_job(tmp_path, capsys):
    out = tmp_path / "head_runs.json"
    argv = ["--people", "16", "--images", "4", "--epochs", "1", "--methods", "tl", "tl_pdp", "--repeats", "1"]
    head_runs.main([*argv, "--json", str(out)])
    record = json.loads(out.read_text())
    assert set(record) == {"name", "what", "command", "machine", "measured", "figures"}
    figures = record["figures"]
    assert figures["head_runs_per_job"] == 3  # tl (no labels), tl_pdp with manual and shuffled labels
    assert figures["import_torch_s"] > 0 and figures["unit_job_s"] > figures["training_per_run_in_process_s"]
    assert figures["per_head_run_s"] == pytest.approx(figures["unit_job_s"] / 3, rel=1e-3)
    ratio = figures["per_head_run_s"] / figures["import_torch_s"]
    assert figures["per_head_run_over_import_torch"] == pytest.approx(ratio, rel=2e-3)
    assert figures["mean_epochs_run"] == 1
    printed = capsys.readouterr().out
    assert "bare import torch" in printed and "per head run / import torch" in printed and str(out) in printed
    assert record["command"] == "python -m benchmarks.micro.head_runs " + " ".join(argv)
