"""benchmarks.tools.cuda_check: its help, the no-CUDA exit, and the concurrent-trainings timing dry-run on the CPU
(the same code that times N trainings on one card), with its JSON record."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def cuda_check(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "benchmarks.tools.cuda_check", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def test_help_names_the_concurrency_option():
    result = cuda_check("--help")
    assert result.returncode == 0, result.stderr
    assert "--concurrent N" in result.stdout and "{cuda,cpu}" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("args", [(), ("--concurrent", "2")], ids=["compare", "concurrent"])
def test_without_cuda_it_says_so_and_exits_2(args):
    result = cuda_check(*args)
    assert result.returncode == 2 and "no CUDA device visible to torch" in result.stdout


def test_bad_options_are_refused():
    assert "at least 1 process" in cuda_check("--concurrent", "0", "--device", "cpu").stderr
    assert "--device cpu is for --concurrent" in cuda_check("--device", "cpu").stderr


def test_concurrent_trainings_are_timed_on_the_cpu(tmp_path):
    result = cuda_check(
        "--json",
        str(tmp_path / "cuda_check.json"),
        "--concurrent",
        "2",
        "--device",
        "cpu",
        "--method",
        "tl",
        "--epochs",
        "1",
        "--batches-per-epoch",
        "1",
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = result.stdout
    alone = float(re.search(r"one training alone: ([\d.]+) s wall", out).group(1))
    wall, ratio, throughput = map(
        float,
        re.search(
            r"2 trainings started together: ([\d.]+) s wall = ([\d.]+) x one alone; throughput ([\d.]+)", out
        ).groups(),
    )
    assert alone > 0 and wall > 0
    # walls are printed to 0.1 s, the ratios from the unrounded walls: the ratio must lie in the interval
    # the rounding leaves, widened by the ratios' own rounding to 0.01
    low, high = (wall - 0.05) / (alone + 0.05), (wall + 0.05) / (alone - 0.05)
    assert low - 0.005 <= ratio <= high + 0.005
    assert 2 / high - 0.005 <= throughput <= 2 / low + 0.005
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [int(row[0]) for row in rows] == [0, 1]
    for _, to_exit, to_ready, training, peak in rows:
        assert 0 < float(to_ready) < float(to_exit) <= wall + 0.05 and float(training) > 0
        assert float(to_ready) + float(training) <= float(to_exit) + 0.05 and peak == "0"  # no GPU memory on the CPU
    written = json.loads((tmp_path / "cuda_check.json").read_text())
    assert written["name"] == "cuda_check" and written["figures"]["processes"] == 2
    assert written["figures"]["together_wall_s"] == pytest.approx(wall, abs=0.051)
    assert written["command"].startswith("python -m benchmarks.tools.cuda_check --concurrent 2 --device cpu")
