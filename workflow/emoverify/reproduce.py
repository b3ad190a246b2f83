"""The paper's reproduction in one command: rerun each committed study from its committed merged config
(``docs/studies/<name>/config.yaml``, its ``data_root`` moved under the datasets' root) into ``results/`` and
compare its regenerated tables with the committed ones, cell by cell.

    python -m emoverify.reproduce                                  # every committed study
    python -m emoverify.reproduce --study ckplus48_pretrained      # one (repeat --study for more)
    python -m emoverify.reproduce --data /data/datasets            # the datasets under another root
    python -m emoverify.reproduce --plan                           # print the commands, run nothing

Each study runs ``snakemake --cores <the committed command's> --configfile docs/studies/<name>/config.yaml
--config data_root=<root>/...``, not the preset its ``command.txt`` names: a preset edited since (a new default,
a retuned weight) would otherwise change what runs, while the committed config is what ran. ``command.txt``
stays the documented command and is printed beside the one run. Keys added to the schema since take their
defaults, which keep what the committed studies did (the rule for new keys, HELPERS/configuration.md).

One line per study: ``same``, or which tables and cells differ and by how much, with the wall time and the
largest difference; every differing cell goes to ``results/reproduce/<study>_differences.csv`` and Snakemake's
output to ``results/reproduce/<study>.log``. The exit status is 1 when a study differs or fails.

Exact equality by default, because a rerun is deterministic on the CPU once MKL takes the code path the study
was made with. Every training and evaluation job runs torch and numpy's BLAS on the threads its rule grants
(``training.threads``, 1 in every committed study), every run is seeded, a batched job's runs are each exactly as
alone, and the command fixes ``--cores``. What moved the floats between CPUs is MKL, torch's BLAS, which picks
its kernels by CPU vendor (emoverify/mkl_vendor.py): the committed CK+48 head study, made on an Intel Xeon and
rerun on an AMD EPYC, differed in 935 cells (every run's threshold in its last digits, one run stopping an epoch
later), and rerun with MKL told the CPU is Intel it is equal to the byte. So each study records its machine
(``machine.yaml``) and the rerun gives MKL that vendor. Not pinned: ``device: auto``, which trains on a GPU with
mixed precision where torch sees one, a CPU without the study's ISA (MKL's Intel path on a Xeon without
AVX-512), and the thread counts of MTCNN and fer's TensorFlow (faces and labels; equal to the byte across the two
CPUs measured). There a rerun can differ, and ``--tolerance KIND=AMOUNT`` admits numeric cells of one column kind
(:data:`KINDS`) that differ by at most that much. No tolerance is set by default, because the cross-vendor rerun
without the pin showed that none means anything for every kind: figures (AUC, TAR, EER, rank-1, thresholds,
means, intervals) moved by up to 0.0022 in a run and 0.0009 in the summary, detectable differences by 0.0015,
but p-values by 0.029 (the exact Wilcoxon p of five units by 0.31) and counts by a whole epoch's pairs (1,828):
a run that stops at another epoch is another run.
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

from emoverify import mkl_vendor

ROOT = Path(__file__).resolve().parents[2]
STUDIES = Path("docs/studies")
DEFAULT_DATA = "../shared/datasets"  # the root every committed command names, relative to the repository
REPORT_DIR = Path("results/reproduce")
# each numeric column's kind, for --tolerance: p-values, detectable differences, counts (pairs, images, epochs,
# runs); every other number is a figure (AUC, TAR, EER, rank-1, a threshold, a mean, an interval, a difference)
P_VALUES = ("p", "p_holm", "wilcoxon_p")
COUNTS = ("epochs_run", "best_epoch", "holm_family", "runs_trained", "runs_without_pairs", "person_pairs")
COUNTS += ("same_session_pairs", "training_images", "pairs")
KINDS = ("figure", "p_value", "detectable", "count")
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
    """One committed study to rerun: the command run (from the repository root, on its committed config), the
    command it documents (its command.txt), the CPU vendor that made it and where its tables are."""

    name: str
    experiment: str
    argv: tuple[str, ...]
    committed: Path  # docs/studies/<name>/tables
    regenerated: Path  # results/<experiment>/tables
    documented: str = ""  # docs/studies/<name>/command.txt
    cpu_vendor: str | None = None  # docs/studies/<name>/machine.yaml, where it has one


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
    admitted: bool = False  # a numeric cell within its kind's tolerance: listed, not a failure


def committed_studies(studies: Path) -> list[str]:
    """Every folder of ``studies`` that holds a ``command.txt``, by name."""
    return sorted(path.parent.name for path in studies.glob("*/command.txt"))


def moved_data_root(value: str, data_root: str) -> str:
    """A ``data_root`` under the default datasets' root, moved under ``data_root``; any other kept."""
    default = DEFAULT_DATA.rstrip("/")
    if value == default or value.startswith(default + "/"):
        return data_root.rstrip("/") + value[len(default) :]
    return value


def committed_cores(command: str) -> str:
    """The ``--cores`` of a committed ``snakemake`` command (its jobs' parallelism, hence its run order)."""
    tokens = shlex.split(command)
    if not tokens or tokens[0] != "snakemake":
        raise ReproduceError(f"the command {command.strip()!r} does not start with snakemake")
    for index, token in enumerate(tokens):
        if token in ("--cores", "-c", "-j", "--jobs") and index + 1 < len(tokens):
            return tokens[index + 1]
        if token.startswith("--cores="):
            return token.partition("=")[2]
    raise ReproduceError(f"the command {command.strip()!r} names no --cores")


def study_command(
    folder: Path, config: dict, data_root: str, python: str = sys.executable, root: Path = ROOT
) -> tuple[str, ...]:
    """Snakemake from this Python on the study's committed config, with the committed command's cores and its
    data root moved under ``data_root``."""
    cores = committed_cores((folder / "command.txt").read_text())
    configfile = os.path.relpath(folder / "config.yaml", root) if folder.is_absolute() else str(folder / "config.yaml")
    data = moved_data_root(str(config.get("data_root", "")), data_root)
    return (python, "-m", "snakemake", "--cores", cores, "--configfile", configfile, "--config", f"data_root={data}")


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
            raise ReproduceError(f"{folder}: no config.yaml, the merged config the study ran with")
        config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
        if not config.get("experiment"):
            raise ReproduceError(f"{folder}/config.yaml names no experiment")
        if not config.get("data_root"):
            raise ReproduceError(f"{folder}/config.yaml names no data_root")
        record = mkl_vendor.read_record(folder)
        plans.append(
            StudyPlan(
                name=name,
                experiment=config["experiment"],
                argv=study_command(folder, config, data_root),
                committed=folder / "tables",
                regenerated=Path("results") / config["experiment"] / "tables",
                documented=(folder / "command.txt").read_text().strip(),
                cpu_vendor=record["cpu_vendor"] if record else None,
            )
        )
    return plans


def column_kind(column: str) -> str:
    """A numeric column's kind (one of :data:`KINDS`), by its name."""
    if column in P_VALUES:
        return "p_value"
    if column.startswith("detectable_diff"):
        return "detectable"
    if column in COUNTS or column.startswith(("n_", "pairs_")) or column.endswith("_n"):
        return "count"
    return "figure"


def tolerances(specs: list[str] | None) -> dict[str, float]:
    """``KIND=AMOUNT`` arguments as a tolerance per kind (0 for a kind not named)."""
    found = dict.fromkeys(KINDS, 0.0)
    for spec in specs or []:
        kind, separator, amount = spec.partition("=")
        if not separator or kind not in KINDS:
            raise ReproduceError(f"--tolerance {spec!r}: give KIND=AMOUNT with KIND one of {', '.join(KINDS)}")
        try:
            found[kind] = float(amount)
        except ValueError:
            raise ReproduceError(f"--tolerance {spec!r}: {amount!r} is not a number") from None
        if not found[kind] >= 0:
            raise ReproduceError(f"--tolerance {spec!r}: a tolerance is at least 0")
    return found


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


def compare_cell(committed: str, regenerated: str) -> tuple[bool, float | None]:
    """Whether two cells are the same, and by how much they differ where both are numbers: text equal as
    written, numbers equal as numbers (``1.0`` and ``1`` are the same; NaN equals NaN)."""
    if committed == regenerated:
        return True, 0.0 if _number(committed) is not None else None
    old, new = _number(committed), _number(regenerated)
    if old is None or new is None:
        return False, None
    if math.isnan(old) or math.isnan(new):
        return math.isnan(old) and math.isnan(new), None
    amount = abs(new - old)
    return amount == 0, amount


def compare_table(
    name: str, committed: pd.DataFrame, regenerated: pd.DataFrame, tolerance: dict[str, float] | None = None
) -> list[Difference]:
    """Every difference between two versions of one table (read as text), rows matched by their key columns; a
    numeric cell within its column kind's ``tolerance`` is listed as admitted."""
    tolerance = tolerance or {}
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
            same, amount = compare_cell(old_cell, new_cell)
            if not same:
                admitted = amount is not None and amount <= tolerance.get(column_kind(column), 0.0)
                differences.append(Difference(name, "cell", key, column, old_cell, new_cell, amount, admitted))
    return differences


def read_table(path: Path) -> pd.DataFrame:
    """A table as its text: what was written is what is compared."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def compare_tables(committed: Path, regenerated: Path, tolerance: dict[str, float] | None = None) -> list[Difference]:
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


def largest(differences: list[Difference]) -> Difference | None:
    """The numeric cell that differs most (admitted or not), or None where no numeric cell differs."""
    numeric = [d for d in differences if d.kind == "cell" and d.amount is not None]
    return max(numeric, key=lambda d: d.amount) if numeric else None


def describe(differences: list[Difference], shown: int = 3) -> str:
    """``same``, or per table what differs beyond its tolerance, naming the largest cell differences; then the
    largest difference of all, admitted ones included."""
    failing = [difference for difference in differences if not difference.admitted]
    biggest = largest(differences)
    if not failing:
        if not differences:
            return "same"
        return f"same within the tolerance: {len(differences)} cells differ, the largest {_cell(biggest)}"
    parts = []
    for table in dict.fromkeys(difference.table for difference in failing):
        here = [difference for difference in failing if difference.table == table]
        if here[0].kind == "missing table":
            parts.append(f"{table} missing")
            continue
        counts = {}
        for difference in here:
            counts[difference.kind] = counts.get(difference.kind, 0) + 1
        parts.append(f"{table}: " + ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in counts.items()))
    cells = sorted(
        (difference for difference in failing if difference.kind == "cell"),
        key=lambda difference: -1 if difference.amount is None else difference.amount,
        reverse=True,
    )
    structural = [d for d in failing if d.kind not in ("cell", "missing table")]
    named = [_cell(d) for d in cells[:shown]] + [f"{d.table} {d.kind} {d.row or d.column}" for d in structural[:shown]]
    line = "different: " + "; ".join(parts) + (" (" + "; ".join(named) + ")" if named else "")
    return line + (f"; largest difference {biggest.amount:.3g}" if biggest is not None else "")


def write_differences(path: Path, differences: list[Difference]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["table", "kind", "row", "column", "committed", "regenerated", "amount", "admitted"])
        for d in differences:
            writer.writerow([d.table, d.kind, d.row, d.column, d.committed, d.regenerated, d.amount, d.admitted])


def run_study(study: StudyPlan, log: Path, environment: dict) -> int:
    """Run the study's command from the repository root with this checkout's library first on the path and
    ``environment`` added (MKL's vendor); ``LD_PRELOAD`` goes ahead of any already set."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "workflow"), *filter(None, [env.get("PYTHONPATH")])])
    for key, value in environment.items():
        env[key] = " ".join(filter(None, [value, env.get(key)])) if key == "LD_PRELOAD" else value
    with log.open("w") as out:
        return subprocess.run(study.argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env).returncode


def reproduce(
    study: StudyPlan,
    tolerance: dict[str, float] | None = None,
    run: bool = True,
    report_dir: Path = ROOT / REPORT_DIR,
    environment: dict | None = None,
) -> tuple[bool, str]:
    """Rerun one study (unless ``run`` is false) and compare its tables: whether it came out the same (within
    ``tolerance``, per column kind), and its line. The log and every differing cell go to ``report_dir``."""
    log, started = report_dir / f"{study.name}.log", time.monotonic()
    if run:
        status = run_study(study, log, environment or {})
        if status != 0:
            wall = duration(time.monotonic() - started)
            return False, f"{study.name}: failed (Snakemake exit {status} after {wall}; see {log})"
    wall = f" ({duration(time.monotonic() - started)})" if run else " (compared only)"
    differences = compare_tables(ROOT / study.committed, ROOT / study.regenerated, tolerance)
    write_differences(report_dir / f"{study.name}_differences.csv", differences)
    return all(d.admitted for d in differences), f"{study.name}: {describe(differences)}{wall}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", action="append", help="a folder of docs/studies (default: every one)")
    parser.add_argument("--data", default=DEFAULT_DATA, help=f"the datasets' root (default: {DEFAULT_DATA})")
    parser.add_argument(
        "--tolerance",
        action="append",
        metavar="KIND=AMOUNT",
        help=f"largest absolute difference of a numeric cell of one kind ({', '.join(KINDS)}; default 0: exact)",
    )
    parser.add_argument("--studies", type=Path, default=STUDIES, help="where the committed studies are")
    parser.add_argument("--plan", action="store_true", help="print each study's command and run nothing")
    parser.add_argument("--compare-only", action="store_true", help="compare the tables already in results/")
    args = parser.parse_args(argv)
    studies = args.studies if args.studies.is_absolute() else ROOT / args.studies
    try:
        plans = plan(studies, args.study, args.data)
        tolerance = tolerances(args.tolerance)
    except (ReproduceError, mkl_vendor.VendorError) as error:
        print(f"reproduce: {error}", file=sys.stderr)
        return 2
    here = mkl_vendor.this_machine()
    if args.plan:
        for study in plans:
            print(f"{study.name}: {shlex.join(study.argv)}")
            print(f"{study.name}: documented as: {study.documented}")
        return 0
    all_same = True
    for study in plans:
        print(f"{study.name}: documented as: {study.documented}", flush=True)
        print(f"{study.name}: running: {shlex.join(study.argv)}", flush=True)
        environment = {}
        if not args.compare_only:
            try:
                environment, path = mkl_vendor.study_environment(study.cpu_vendor, here, ROOT / REPORT_DIR)
            except mkl_vendor.VendorError as error:
                print(f"reproduce: {study.name}: {error}", file=sys.stderr)
                return 2
            print(f"{study.name}: {path}", flush=True)
            if (ROOT / "results" / study.experiment).exists():
                print(
                    f"{study.name}: results/{study.experiment} exists; Snakemake reruns only what changed", flush=True
                )
        same, line = reproduce(study, tolerance, run=not args.compare_only, environment=environment)
        all_same &= same
        print(line, flush=True)
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
