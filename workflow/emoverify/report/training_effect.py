"""Whether training moved each method from where it started, read from the runs table alone.

Per method and label source: the share of its runs that ship a trained epoch (``best_epoch`` > 0; epoch 0, the
untrained head or dlib network, is a candidate of early stopping while ``training.min_epochs`` is 0), and the
method against its starting point on the test people, over fold units, with the corrected resampled t-test the
verdict uses (Holm over the table's comparisons of a metric, those identical to the start in every unit left out).
The starting point is a reference scored as the method is (study.starting_point): for a network trained from
scratch the ``untrained`` network; for a head on a pretrained recognizer its epoch 0, a rotation of the
recognizer's space, which is ``untrained`` (that space under cosine) for a spherical head and the recognizer itself
(``dlib``, Euclidean) for a Euclidean one (docs/pretrained.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from emoverify.report import comparisons
from emoverify.report.comparisons import outcome
from emoverify.report.runs_table import SummaryInputError
from emoverify.report.statistics import ALPHA

START = "untrained"
TRAINED_EPOCH = "best_epoch"
COLUMNS = [
    "method",
    "labels",
    "baseline",
    "n_runs",
    "runs_trained",
    "share_trained",
    "start",
    "metric",
    "mean",
    "start_mean",
    "difference",
    "ci95_low",
    "ci95_high",
    "p",
    "p_holm",
    "n_units",
    "finding",
]
ABOVE, BELOW, UNMOVED = "above its start", "below its start", "same as its start in every unit"


def trained_share(runs: pd.DataFrame, method: str, label_source: str) -> tuple[int, int]:
    """(ok runs, ok runs whose shipped epoch is a trained one) of a method and label source."""
    ok = runs[(runs["method"] == method) & (runs["labels"] == label_source) & (runs["status"] == "ok")]
    if TRAINED_EPOCH not in ok:
        raise SummaryInputError(f"the runs table has no {TRAINED_EPOCH} column: build it with collect_runs()")
    return len(ok), int((ok[TRAINED_EPOCH] > 0).sum())


def training_effect(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    methods: Sequence[str],
    baselines: Iterable[str],
    metrics: Sequence[str],
    test_share: float = 0.0,
    starts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per trained method (``methods``, in order), label source and metric present in ``runs``: its
    ok runs, how many ship a trained epoch and their share, and the method minus its start (``starts``, the
    ``untrained`` reference where it names none) on the metric over fold units (means from ``summary``);
    ``baseline`` marks the methods others are compared with."""
    starts = {method: (starts or {}).get(method, START) for method in methods}
    methods = [method for method in methods if method in set(runs["method"]) and method != starts[method]]
    metrics = [metric for metric in dict.fromkeys(metrics) if metric in runs.columns]
    if not methods or not metrics:
        return pd.DataFrame(columns=COLUMNS)
    tests = comparisons.significance(runs, {method: starts[method] for method in methods}, metrics, test_share)
    means = {
        (row["method"], row["labels"], metric): row.get(f"{metric}_mean", math.nan)
        for _, row in summary.iterrows()
        for metric in metrics
    }
    baselines, rows = set(baselines), []
    for _, test in tests.iterrows():
        n_runs, trained = trained_share(runs, test["method"], test["labels"])
        rows.append(
            {
                "method": test["method"],
                "labels": test["labels"],
                "baseline": test["method"] in baselines,
                "n_runs": n_runs,
                "runs_trained": trained,
                "share_trained": trained / n_runs if n_runs else math.nan,
                "start": test["baseline"],
                "metric": test["metric"],
                "mean": means.get((test["method"], test["labels"], test["metric"]), math.nan),
                "start_mean": means.get((test["baseline"], test["baseline_labels"], test["metric"]), math.nan),
                "difference": test["mean_diff"],
                "ci95_low": test["ci95_low"],
                "ci95_high": test["ci95_high"],
                "p": test["p"],
                "p_holm": test["p_holm"],
                "n_units": test["n_units"],
                "finding": _finding(test),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _finding(test: pd.Series) -> str:
    return outcome(test, (UNMOVED, ABOVE, BELOW))


def training_sentence(table: pd.DataFrame, names: Mapping[str, str]) -> str:
    """One paragraph for the verdict page: the share of runs that ship a trained epoch, and per metric of the
    table (shown as ``names`` call it) how many methods training moved above or below their start, the
    baselines named with the reference they start from."""
    if table.empty:
        return "Training: no trained method ran against its starting point."
    per_method = table.drop_duplicates(["method", "labels"])
    runs, trained = int(per_method["n_runs"].sum()), int(per_method["runs_trained"].sum())
    text = f"Training: {trained} of {runs} runs ship a trained epoch"
    text += "." if trained == runs else " (the others their untrained epoch 0)."
    for metric, rows in table.groupby("metric", sort=False):
        above, below = ((rows["finding"] == finding).sum() for finding in (ABOVE, BELOW))
        text += (
            f" On {names.get(metric, metric)}, training moved {above + below} of {len(rows)} methods (per label "
            f"source) from their start (p after Holm below {ALPHA:g}): {above} above it, {below} below"
        )
        named = [
            f"{row['method']} from {row['start']}, {row['finding']}"
            for _, row in rows[rows["baseline"].astype(bool)].drop_duplicates("method").iterrows()
        ]
        text += f"; baselines: {'; '.join(named)}." if named else "."
    return text
