"""The manipulation table: did each expression term change, on unseen people, the geometry it targets?

Every run's manipulation.json (emoverify.evaluation.manipulation) holds each expression term on its test
people with the study's true labels and a linear probe's balanced expression accuracy. Here each method is
compared with its matched baseline exactly as the verification figures are (comparisons.significance: fold
units, the corrected resampled t-test, Holm over the comparisons of one measure), and each comparison is
read against its verification finding (verdict.manipulation_reading).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from emoverify.evaluation.manipulation import MEASURES, PROBE
from emoverify.report import comparisons, runs_table, shown, verdict
from emoverify.tuning import winners

COLUMNS = [*comparisons.COLUMNS, "truth", "own_term", "direction", "acted", "reading"]
LOWER = "lower"  # a term's value falls when it acts: the losses are minimised
READ_ONLY = "none (loss-agnostic)"  # the probe has no direction the terms aim at


def collect(paths, selection_paths=()) -> pd.DataFrame:
    """One row per run's manipulation.json (a missing or failed one a ``missing`` row), a tuned study's
    selected candidates under their method's name, and a ``truth`` column: the labels measured with."""
    runs = runs_table.collect_runs(paths)
    selections = winners.read_selections(selection_paths)
    runs = winners.winning_runs(runs, selections) if selections else runs
    return runs.assign(truth=truth_source(paths))


def truth_source(paths) -> str:
    """The labels the runs' measures used (one source per study), as their records name them."""
    sources = set()
    for path in map(Path, paths):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # the runs table already says why
        if isinstance(record, dict) and record.get("truth"):
            sources.add(str(record["truth"]))
    return ", ".join(sorted(sources))


def acted(row: pd.Series) -> bool:
    """Whether a method's own term is lower than its baseline's on the test people (p after Holm below 5 %)."""
    return bool(row["own_term"] and row["mean_diff"] < 0 and row["p_holm"] < verdict.ALPHA)


def manipulation_table(
    runs: pd.DataFrame,
    baselines: Mapping[str, str | None],
    terms: Mapping[str, Sequence[str]],
    verification: pd.DataFrame,
    test_share: float,
    metric: str = verdict.LEAD_METRIC,
) -> pd.DataFrame:
    """Method minus matched baseline for every measure present, per label source (``terms``: each method's
    expression terms; ``verification``: the verdict table, whose comparison rows give each method's finding
    on ``metric``, the verdict's lead metric). ``acted`` marks a method's own term lower than its baseline's after Holm;
    ``reading`` is the comparison's one-line answer, the same on each of its rows."""
    pairs = {method: base for method, base in baselines.items() if base}
    present = [measure for measure in MEASURES if measure in runs.columns]
    if not pairs or not present:
        return pd.DataFrame(columns=COLUMNS)
    table = comparisons.significance(runs, pairs, metrics=present, test_share=test_share)
    table["truth"] = ", ".join(sorted(set(runs["truth"]))) if "truth" in runs else ""
    table["own_term"] = [metric in terms.get(method, ()) for method, metric in zip(table["method"], table["metric"])]
    table["direction"] = [LOWER if metric != PROBE else READ_ONLY for metric in table["metric"]]
    table["acted"] = table.apply(acted, axis=1)
    table["reading"] = _readings(table, verification, metric)
    return table[COLUMNS]


def _readings(table: pd.DataFrame, verification: pd.DataFrame, metric: str) -> list[str]:
    rows = verification[verification["row"] == "comparison"] if "row" in verification else verification.iloc[0:0]
    findings = {(row["method"], row["labels"]): row for _, row in rows.iterrows()}
    readings = []
    for (method, label_source), group in table.groupby(["method", "labels"], sort=False):
        acting = list(group.loc[group["acted"], "metric"])
        answer = verdict.manipulation_reading(acting, findings.get((method, label_source)), metric)
        readings += [(index, answer) for index in group.index]
    return [answer for _, answer in sorted(readings)]


def write(table: pd.DataFrame, csv_path, rst_path) -> None:
    """The table (csv) and its readings, one line per comparison with real labels, for the verdict page."""
    table.to_csv(csv_path, index=False)
    Path(rst_path).write_text(readings_rst(table))


def readings_rst(table: pd.DataFrame) -> str:
    """The manipulation check's answer per comparison, as reStructuredText for the report's first page."""
    truth = str(table["truth"].iloc[0]) if len(table) else ""
    lines = [
        f"**Manipulation check** (each expression term on the test people with the {truth or 'true'} labels, "
        "method minus its matched baseline; manipulation.csv):",
        "",
    ]
    comparisons_read = table.drop_duplicates(["method", "labels"])
    if comparisons_read.empty:
        return "\n".join([*lines, "No expression loss ran against a matched baseline.", ""])
    for _, row in comparisons_read.iterrows():
        lines.append("- " + shown.rst_text(f"{row['method']} ({row['labels']} labels): {row['reading']}"))
    return "\n".join(lines) + "\n"
