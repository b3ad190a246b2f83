"""Rebuild a committed study's report tables from its committed runs table, without rerunning anything:

    python -m emoverify.rebuild docs/studies/<name> --folds results/<experiment>/splits/folds.csv

The aggregate rule's settings come from the study's merged ``config.yaml`` as the rule reads them
(workflow/rules/report.smk), the folds' test share from the study's folds file (the make_splits rule writes it,
and it needs only the faces: ``snakemake <that folds.csv>`` with the study's command), and every table of
:func:`emoverify.report.build.write_tables` is rewritten in the study's ``tables/`` folder except runs.csv, which
is only read. The pages that are not committed (summary.md, verdict.rst, power.png) go to ``--pages``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from emoverify import study
from emoverify.report import build
from emoverify.report.runs_table import ID_COLUMNS, TRAINING_TEXT_COLUMNS
from emoverify.report.settings import ReportSettings
from emoverify.splits.folds import held_out_share

TABLES = {
    "summary": "summary.csv",
    "significance": "significance.csv",
    "label_comparison": "label_source_comparison.csv",
    "training_effect": "training_effect.csv",
    "verdict": "verdict.csv",
    "power_table": "power.csv",
}
PAGES = {"summary_md": "summary.md", "verdict_rst": "verdict.rst", "power": "power.png"}


class RebuildError(ValueError):
    """A study folder or folds file the tables cannot be rebuilt from (the message says what is missing)."""


def report_params(config: dict) -> dict:
    """The aggregate rule's params of a merged config (as workflow/rules/report.smk builds them)."""
    return {
        "baselines": {method: study.baseline_of(method, config) for method in study.compared_methods(config)},
        "run_methods": study.compared_methods(config),
        "references": config["references"],
        "starts": {method: study.starting_point(method, config) for method in study.compared_methods(config)},
        "pca_methods": config["figures"]["pca_methods"],
        "pca_max_identities": config["figures"]["pca_max_identities"],
        "exclude_same_session": config["evaluation"]["exclude_same_session"],
        "dataset": config["dataset"],
        "data_root": config["data_root"],
    }


def read_runs(path: Path) -> pd.DataFrame:
    """A runs table as the report wrote it, read back as collect_runs built it: floats to the bit, the
    identifiers as whole numbers, the text columns empty rather than NaN."""
    runs = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for column in ("repeat", "fold", "seed"):
        runs[column] = pd.array(runs[column], dtype="Int64")
    runs["reference"] = runs["reference"].astype(bool)
    for column in ("method", "labels", "status", "path", "notes", *TRAINING_TEXT_COLUMNS):
        if column in runs:
            runs[column] = runs[column].astype(object).fillna("").astype(str)
    return runs


def rebuild(study_dir: Path, folds_path: Path, pages: Path) -> list[str]:
    """Rewrite the report tables of ``study_dir`` from its runs.csv; returns the tables written."""
    tables = study_dir / "tables"
    needed = [study_dir / "config.yaml", tables / "runs.csv", folds_path]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise RebuildError(f"cannot rebuild {study_dir}: no {', '.join(missing)}")
    config = yaml.safe_load((study_dir / "config.yaml").read_text())
    runs = read_runs(tables / "runs.csv")
    absent = [column for column in ID_COLUMNS if column not in runs]
    if absent:
        raise RebuildError(f"{tables / 'runs.csv'} lacks columns {absent}: is it a report's runs table?")
    test_share = held_out_share(pd.read_csv(folds_path, keep_default_na=False))
    settings = ReportSettings.from_params(report_params(config), test_share=test_share)
    outputs = {key: tables / name for key, name in TABLES.items()}
    outputs.update({key: pages / name for key, name in PAGES.items()})
    build.write_tables(settings, runs, outputs)
    return list(TABLES.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", type=Path, help="docs/studies/<name>: config.yaml and tables/runs.csv")
    parser.add_argument("--folds", type=Path, required=True, help="results/<experiment>/splits/folds.csv")
    parser.add_argument("--pages", type=Path, help="where summary.md, verdict.rst and power.png go (default: dropped)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        pages = args.pages or Path(scratch)
        pages.mkdir(parents=True, exist_ok=True)
        try:
            written = rebuild(args.study, args.folds, pages)
        except RebuildError as error:
            print(f"rebuild: {error}", file=sys.stderr)
            return 2
    print(f"rebuilt from {args.study}/tables/runs.csv: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
