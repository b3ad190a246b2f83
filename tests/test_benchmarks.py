"""The benchmark suite: one JSON record format (benchmarks.record), every benchmark a module that runs as
``python -m benchmarks.<group>.<name>`` and writes it, and no sys.path patching outside the two setup files."""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import record

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("micro", "tools", "studies")
BENCHMARKS = sorted(
    f"benchmarks.{group}.{path.stem}"
    for group in GROUPS
    for path in (ROOT / "benchmarks" / group).glob("*.py")
    if path.stem != "__init__"
)
RECORD_KEYS = ["name", "what", "command", "machine", "measured", "figures"]


def options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    record.add_output_options(parser)
    return parser.parse_args(argv)


def test_the_command_repeats_the_measurement_without_the_output_options():
    argv = ["--sizes", "8", "16", "--json", "out.json", "--record", "--threads=2", "--json=x.json"]
    assert record.command("benchmarks.micro.losses", argv) == (
        "python -m benchmarks.micro.losses --sizes 8 16 --threads=2"
    )
    assert record.command("benchmarks.tools.time_model", ["--check", "a=b c"]) == (
        "python -m benchmarks.tools.time_model --check 'a=b c'"
    )


def test_figures_are_plain_json_numbers_to_four_significant_digits():
    np = pytest.importorskip("numpy")
    assert record.plain(np.float64(0.123456789)) == 0.1235
    assert record.plain(1234567.0) == 1235000.0
    assert record.plain(np.int64(7)) == 7 and isinstance(record.plain(np.int64(7)), int)
    assert record.plain(float("nan")) is None and record.plain("cpu") == "cpu" and record.plain(True) is True
    with pytest.raises(TypeError, match="a figure must be a number or a string, not list"):
        record.plain([1, 2])


def test_a_record_has_the_documented_keys_and_refuses_no_figures():
    figures = {"faces_per_second": 12.345678}
    made = record.make_record("benchmarks.micro.faces", figures, what="w", argv=["--limit", "4"])
    assert list(made) == RECORD_KEYS
    assert made["name"] == "faces" and made["command"] == "python -m benchmarks.micro.faces --limit 4"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", made["measured"]) and "CPU cores" in made["machine"]
    assert "GPU" in made["machine"] and "load average" in made["machine"]
    assert made["figures"] == {"faces_per_second": 12.35}
    with pytest.raises(ValueError, match="benchmarks.micro.faces measured nothing"):
        record.make_record("benchmarks.micro.faces", {}, what="w", argv=[])
    named = r"figure names may not hold spaces, '#' or brackets: \['wall time', 'x\[0\]'\]"
    with pytest.raises(ValueError, match=named):
        record.make_record("benchmarks.micro.faces", {"wall time": 1, "x[0]": 2, "ok_s": 3}, what="w", argv=[])


@pytest.mark.parametrize(
    "argv, expected",
    [
        ((), ["untracked/faces.json"]),
        (("--json", "{tmp}/mine.json"), ["mine.json"]),
        (("--record",), ["measurements/faces.json"]),
        (("--json", "{tmp}/mine.json", "--record"), ["mine.json", "measurements/faces.json"]),
    ],
    ids=["default", "json", "record", "both"],
)
def test_save_writes_where_asked_and_never_into_the_benchmarks_folder(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.setattr(record, "UNTRACKED", tmp_path / "untracked")
    monkeypatch.setattr(record, "MEASUREMENTS", tmp_path / "measurements")
    args = options(*(word.format(tmp=tmp_path) for word in argv))
    made = record.save(args, "benchmarks.micro.faces", {"a": 1.0, "b": None}, "First line.\n\nMore.", argv=["-x"])
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.json"))
    assert written == sorted(expected)
    for path in written:
        assert json.loads((tmp_path / path).read_text()) == made
    assert made["what"] == "First line." and made["command"] == "python -m benchmarks.micro.faces -x"
    shown = capsys.readouterr().out
    assert re.search(r"^  a  1\.0$", shown, re.M) and re.search(r"^  b  -$", shown, re.M)


def test_the_default_places_are_outside_the_tracked_benchmarks_folder():
    assert record.UNTRACKED == ROOT / "results" / "benchmarks"
    assert record.MEASUREMENTS == ROOT / "docs" / "measurements"
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/benchmarks/x.json"], cwd=ROOT)
    assert ignored.returncode == 0, "results/benchmarks/ must be ignored by git"


def test_every_benchmark_imports_as_a_module_and_records_its_figures():
    assert len(BENCHMARKS) >= 10, BENCHMARKS
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", code, *BENCHMARKS], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in BENCHMARKS:
        source = (ROOT / Path(*name.split("."))).with_suffix(".py").read_text()
        assert "record.parser(__doc__)" in source and "record.save(args, __spec__.name" in source, name
        assert not name.rsplit(".", 1)[1].startswith("bench_"), name


def test_the_losses_benchmark_at_a_tiny_size_writes_its_record(tmp_path):
    out = tmp_path / "losses.json"
    command = [sys.executable, "-m", "benchmarks.micro.losses", "--sizes", "8", "--loop-budget", "2"]
    command += ["--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    written = json.loads(out.read_text())
    assert list(written) == RECORD_KEYS and written["name"] == "losses"
    assert written["command"] == "python -m benchmarks.micro.losses --sizes 8 --loop-budget 2"
    figures = written["figures"]
    assert figures["pdm/B8/vectorised_ms"] > 0 and figures["pdm/B8/loop_s"] > 0
    assert figures["all_expression_losses/B8/ratio_to_backbone"] > 0
    assert f"written to {out}" in done.stdout


def test_sys_path_is_patched_only_by_the_rule_scripts_setup_and_the_tests_conftest():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    patched = sorted(
        name
        for name in tracked.split()
        if name.endswith((".py", ".smk", "Snakefile"))
        and name != "tests/test_benchmarks.py"
        and "sys.path.insert" in (ROOT / name).read_text()
    )
    assert patched == ["workflow/scripts/_setup.py"]


def test_the_jobs_benchmark_measures_another_checkout_by_running_again_with_its_library(tmp_path, monkeypatch):
    import emoverify
    from benchmarks.micro import jobs

    calls = []
    monkeypatch.setattr(jobs.os, "execve", lambda *call: calls.append(call))
    monkeypatch.delenv(jobs.MEASURED_LIBRARY, raising=False)
    jobs.run_with_library_of(Path(emoverify.__file__).resolve().parents[1].parent)  # the library in use
    assert calls == []
    monkeypatch.setattr(jobs.sys, "argv", ["jobs.py", "--repo", str(tmp_path)])
    jobs.run_with_library_of(tmp_path)
    (executable, argv, env) = calls[0]
    assert argv == [executable, "-m", "benchmarks.micro.jobs", "--repo", str(tmp_path)]
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "workflow")
    assert env[jobs.MEASURED_LIBRARY] == str(tmp_path / "workflow")
    monkeypatch.setenv(jobs.MEASURED_LIBRARY, str(tmp_path / "workflow"))
    jobs.run_with_library_of(tmp_path)  # already running with it: no second run
    assert len(calls) == 1
