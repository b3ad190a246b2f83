"""The paper's reproduction in one command: rerun each committed study (``docs/studies/<name>/command.txt``)
into ``results/`` and compare its regenerated tables with the committed ones, cell by cell.

    python -m emoverify.reproduce                                  # every committed study
    python -m emoverify.reproduce --study ckplus48_pretrained      # one (repeat --study for more)
    python -m emoverify.reproduce --data /data/datasets            # the datasets under another root
    python -m emoverify.reproduce --plan                           # print the commands, run nothing

One line per study: ``same``, or which tables and cells differ and by how much, with the wall time; every
differing cell goes to ``results/reproduce/<study>_differences.csv`` and Snakemake's output to
``results/reproduce/<study>.log``. The exit status is 1 when a study differs or fails.

Exact equality by default: on the CPU a study is deterministic. Every training and evaluation job runs torch and
numpy's BLAS on the threads its rule grants (``training.threads``, 1 in every committed study), every run is
seeded, a batched job's runs are each exactly as alone, and the committed command fixes ``--cores``. Not pinned:
the thread count of the face detector (MTCNN) and of fer's TensorFlow, which take the machine's cores, and
``device: auto``, which trains on a GPU with mixed precision where torch sees one. On another core count, CPU or
a GPU the float rounding moves, and the figures with it; there ``--tolerance`` sets the largest absolute
difference a numeric cell may show (p-values of near-identical comparisons can move more than any figure, so
read such a rerun's differences, not its pass or fail).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
STUDIES = Path("docs/studies")
DEFAULT_DATA = "../shared/datasets"  # the root every committed command names, relative to the repository
REPORT_DIR = Path("results/reproduce")
# the columns that name a table row (in the table's own order), where the table has them
KEY_COLUMNS = (
    "row",
    "comparison",
    "axis",
    "x",
    "method",
    "labels",
    "baseline",
    "baseline_labels",
    "metric",
    "reference",
    "repeat",
    "fold",
    "seed",
    "candidate",
    "loss",
)


class ReproduceError(ValueError):
    """A study that cannot be planned: no such study, or a folder without its command or config."""


@dataclass(frozen=True)
class StudyPlan:
    """One committed study to rerun: its command (as run from the repository root) and where its tables are."""

    name: str
    experiment: str
    argv: tuple[str, ...]
    committed: Path  # docs/studies/<name>/tables
    regenerated: Path  # results/<experiment>/tables


@dataclass(frozen=True)
class Difference:
    """One way a regenerated table differs from its committed one. ``kind``: ``cell``, ``missing table``,
    ``missing row``, ``extra row``, ``missing column``, ``extra column``."""

    table: str
    kind: str
    row: str = ""
    column: str = ""
    committed: str = ""
    regenerated: str = ""
    amount: float | None = None  # |regenerated - committed| for a numeric cell


def committed_studies(studies: Path) -> list[str]:
    """Every folder of ``studies`` that holds a ``command.txt``, by name."""
    return sorted(path.parent.name for path in studies.glob("*/command.txt"))


def study_command(command: str, data_root: str, python: str = sys.executable) -> tuple[str, ...]:
    """The committed command as an argument list: Snakemake from this Python, and every ``data_root=`` under
    the default root moved to ``data_root``."""
    tokens = shlex.split(command)
    if not tokens or tokens[0] != "snakemake":
        raise ReproduceError(f"the command {command.strip()!r} does not start with snakemake")
    default = DEFAULT_DATA.rstrip("/")
    moved = []
    for token in tokens[1:]:
        key, _, value = token.partition("=")
        if key == "data_root" and (value == default or value.startswith(default + "/")):
            token = "data_root=" + data_root.rstrip("/") + value[len(default) :]
        moved.append(token)
    return (python, "-m", "snakemake", *moved)


def plan(studies: Path, names: list[str] | None = None, data_root: str = DEFAULT_DATA) -> list[StudyPlan]:
    """The studies to rerun (every committed one when ``names`` is empty), in name order."""
    known = committed_studies(studies)
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        raise ReproduceError(
            f"no committed study {', '.join(unknown)} in {studies} (a folder with a command.txt); "
            f"known: {', '.join(known) or 'none'}"
        )
    plans = []
    for name in sorted(set(names)) if names else known:
        folder = studies / name
        if not (folder / "config.yaml").is_file():
            raise ReproduceError(f"{folder}: no config.yaml, so the study's experiment (its results folder) is unknown")
        experiment = (yaml.safe_load((folder / "config.yaml").read_text()) or {}).get("experiment")
        if not experiment:
            raise ReproduceError(f"{folder}/config.yaml names no experiment")
        plans.append(
            StudyPlan(
                name=name,
                experiment=experiment,
                argv=study_command((folder / "command.txt").read_text(), data_root),
                committed=folder / "tables",
                regenerated=Path("results") / experiment / "tables",
            )
        )
    return plans


def _row_keys(committed: pd.DataFrame, regenerated: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Each row's name in both tables: its key columns' values joined by '/', or its position where the key
    columns do not tell the rows of either table apart."""
    columns = [column for column in KEY_COLUMNS if column in committed.columns and column in regenerated.columns]
    keys = [
        ["/".join(values) for values in table[columns].itertuples(index=False)] for table in (committed, regenerated)
    ]
    if not columns or any(len(set(named)) < len(named) for named in keys):
        return tuple([f"row {position + 1}" for position in range(len(table))] for table in (committed, regenerated))
    return keys[0], keys[1]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def compare_cell(committed: str, regenerated: str, tolerance: float) -> tuple[bool, float | None]:
    """Whether two cells agree, and by how much they differ where both are numbers. Text must be equal; numbers
    equal within ``tolerance`` (NaN equals NaN)."""
    if committed == regenerated:
        return True, 0.0 if _number(committed) is not None else None
    old, new = _number(committed), _number(regenerated)
    if old is None or new is None:
        return False, None
    if math.isnan(old) or math.isnan(new):
        return math.isnan(old) and math.isnan(new), None
    amount = abs(new - old)
    return amount <= tolerance, amount


def compare_table(name: str, committed: pd.DataFrame, regenerated: pd.DataFrame, tolerance: float = 0.0):
    """Every difference between two versions of one table (read as text), rows matched by their key columns."""
    differences = [Difference(name, "missing column", column=c) for c in committed if c not in regenerated]
    differences += [Difference(name, "extra column", column=c) for c in regenerated if c not in committed]
    columns = [column for column in committed if column in regenerated]
    old_keys, new_keys = _row_keys(committed, regenerated)
    old_rows = dict(zip(old_keys, committed[columns].itertuples(index=False)))
    new_rows = dict(zip(new_keys, regenerated[columns].itertuples(index=False)))
    differences += [Difference(name, "missing row", row=key) for key in old_rows if key not in new_rows]
    differences += [Difference(name, "extra row", row=key) for key in new_rows if key not in old_rows]
    for key, old in old_rows.items():
        if key not in new_rows:
            continue
        for column, old_cell, new_cell in zip(columns, old, new_rows[key]):
            same, amount = compare_cell(old_cell, new_cell, tolerance)
            if not same:
                differences.append(Difference(name, "cell", key, column, old_cell, new_cell, amount))
    return differences


def read_table(path: Path) -> pd.DataFrame:
    """A table as its text: what was written is what is compared."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def compare_tables(committed: Path, regenerated: Path, tolerance: float = 0.0) -> list[Difference]:
    """Every difference between the committed tables (each ``*.csv`` of ``committed``) and the regenerated
    ones of the same name; tables only the regenerated folder has are not compared."""
    differences = []
    for path in sorted(committed.glob("*.csv")):
        if not (regenerated / path.name).is_file():
            differences.append(Difference(path.name, "missing table"))
            continue
        differences += compare_table(path.name, read_table(path), read_table(regenerated / path.name), tolerance)
    return differences


def duration(seconds: float) -> str:
    """``4 min 10 s``, ``52 s``, ``1 h 3 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _cell(difference: Difference) -> str:
    where = f"{difference.table} row {difference.row}, column {difference.column}"
    change = f"{difference.committed!r} -> {difference.regenerated!r}"
    if difference.amount is not None:
        change += f", by {difference.amount:.3g}"
    return f"{where}: {change}"


def describe(differences: list[Difference], shown: int = 3) -> str:
    """``same``, or per table what differs, naming the largest cell differences."""
    if not differences:
        return "same"
    parts = []
    for table in dict.fromkeys(difference.table for difference in differences):
        here = [difference for difference in differences if difference.table == table]
        if here[0].kind == "missing table":
            parts.append(f"{table} missing")
            continue
        counts = {}
        for difference in here:
            counts[difference.kind] = counts.get(difference.kind, 0) + 1
        parts.append(f"{table}: " + ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in counts.items()))
    cells = sorted(
        (difference for difference in differences if difference.kind == "cell"),
        key=lambda difference: -1 if difference.amount is None else difference.amount,
        reverse=True,
    )
    structural = [d for d in differences if d.kind not in ("cell", "missing table")]
    named = [_cell(d) for d in cells[:shown]] + [f"{d.table} {d.kind} {d.row or d.column}" for d in structural[:shown]]
    return (
        "different: " + "; ".join(parts) + " (" + "; ".join(named) + ")" if named else "different: " + "; ".join(parts)
    )


def write_differences(path: Path, differences: list[Difference]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["table", "kind", "row", "column", "committed", "regenerated", "amount"])
        for d in differences:
            writer.writerow([d.table, d.kind, d.row, d.column, d.committed, d.regenerated, d.amount])


def run_study(study: StudyPlan, log: Path) -> int:
    """Run the study's command from the repository root with this checkout's library first on the path."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "workflow"), *filter(None, [env.get("PYTHONPATH")])])
    with log.open("w") as out:
        return subprocess.run(study.argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env).returncode


def reproduce(
    study: StudyPlan, tolerance: float, run: bool = True, report_dir: Path = ROOT / REPORT_DIR
) -> tuple[bool, str]:
    """Rerun one study (unless ``run`` is false) and compare its tables: whether it came out the same, and its
    line. The log and the list of differing cells go to ``report_dir``."""
    log, started = report_dir / f"{study.name}.log", time.monotonic()
    if run:
        status = run_study(study, log)
        if status != 0:
            wall = duration(time.monotonic() - started)
            return False, f"{study.name}: failed (Snakemake exit {status} after {wall}; see {log})"
    wall = f" ({duration(time.monotonic() - started)})" if run else " (compared only)"
    differences = compare_tables(ROOT / study.committed, ROOT / study.regenerated, tolerance)
    write_differences(report_dir / f"{study.name}_differences.csv", differences)
    return not differences, f"{study.name}: {describe(differences)}{wall}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", action="append", help="a folder of docs/studies (default: every one)")
    parser.add_argument("--data", default=DEFAULT_DATA, help=f"the datasets' root (default: {DEFAULT_DATA})")
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="largest absolute difference of a numeric cell (default 0)"
    )
    parser.add_argument("--studies", type=Path, default=STUDIES, help="where the committed studies are")
    parser.add_argument("--plan", action="store_true", help="print each study's command and run nothing")
    parser.add_argument("--compare-only", action="store_true", help="compare the tables already in results/")
    args = parser.parse_args(argv)
    studies = args.studies if args.studies.is_absolute() else ROOT / args.studies
    try:
        plans = plan(studies, args.study, args.data)
    except ReproduceError as error:
        print(f"reproduce: {error}", file=sys.stderr)
        return 2
    if args.plan:
        for study in plans:
            print(f"{study.name}: {shlex.join(study.argv)}")
        return 0
    all_same = True
    for study in plans:
        if not args.compare_only and (ROOT / "results" / study.experiment).exists():
            print(f"{study.name}: results/{study.experiment} exists; Snakemake reruns only what changed", flush=True)
        same, line = reproduce(study, args.tolerance, run=not args.compare_only)
        all_same &= same
        print(line, flush=True)
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
