"""Results tables: runs gathered from metrics.json files, summaries with uncertainty, paired tests.

The runs table has one row per run: ``method, labels, fold, seed, status, reference,
path, notes`` and one column per metric. ``status`` is ``ok`` or ``missing: <reason>``;
a run that failed or never wrote its file is a row, so the report says so instead of
crashing or quietly shrinking the study.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from emoverify.layout import parse_run_dir
from emoverify.registry import DETECTED, MANUAL, NO_LABELS

ID_COLUMNS = ("method", "labels", "fold", "seed", "status", "reference", "path", "notes")
# the metrics a reader looks at first (tables and tests default to those present)
HEADLINE_METRICS = (
    "auc",
    "eer",
    "tar_at_far_1e-1",
    "tar_at_far_1e-2",
    "accuracy",
    "rank1",
    "auc_same_expression",
    "auc_cross_expression",
    "auc_all_pairs",
)
STAT_SUFFIXES = ("mean", "sd", "ci95_low", "ci95_high", "n")
# rates and areas live in [0, 1]: their t-intervals are clipped there (with few runs they would pass 1)
UNIT_INTERVAL_METRIC = re.compile(r"^(auc|eer|tar_at_far|accuracy|rank1)")
SIGNIFICANCE_COLUMNS = [
    "method",
    "labels",
    "baseline",
    "baseline_labels",
    "metric",
    "n_pairs",
    "mean_diff",
    "ci95_low",
    "ci95_high",
    "wilcoxon_p",
    "wilcoxon_p_holm",
    "note",
]


class SummaryInputError(ValueError):
    """A runs table or request that cannot be summarised as given (the message says what to fix)."""


# ---------------------------------------------------------------- collecting runs


def collect_runs(metrics_paths: Iterable) -> pd.DataFrame:
    """One row per metrics.json path; unreadable or absent files become ``missing`` rows.

    Each file holds ``method, labels, fold, seed`` (read from the path
    ``.../<method>/<labels>/fold<k>/seed<s>/metrics.json`` when the file cannot be
    read) and a ``metrics`` mapping; ``null`` metrics become NaN and a ``notes``
    list is joined with "; ".
    """
    rows = [_run_row(Path(path)) for path in metrics_paths]
    metric_columns = sorted({key for row in rows for key in row} - set(ID_COLUMNS))
    table = pd.DataFrame(rows, columns=[*ID_COLUMNS, *metric_columns])
    table["fold"] = pd.array(table["fold"], dtype="Int64")
    table["seed"] = pd.array(table["seed"], dtype="Int64")
    table["reference"] = table["reference"].astype(bool)
    table["notes"] = table["notes"].fillna("").astype(str)
    return table


def _run_row(path: Path) -> dict:
    row = {**_identity_from_path(path), "status": "ok", "path": str(path), "notes": ""}
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return {**row, "status": "missing: no metrics.json (the run did not finish; see its log)"}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {**row, "status": f"missing: unreadable metrics.json ({type(error).__name__}: {error})"}
    if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
        return {**row, "status": "missing: metrics.json has no 'metrics' mapping"}
    for key in ("method", "labels"):
        if key in record:
            row[key] = str(record[key])
    for key in ("fold", "seed"):
        if key in record:
            row[key] = _as_int(record[key])
    row["reference"] = bool(record.get("reference", row["reference"]))
    status = str(record.get("status", "ok"))
    if status != "ok":
        row["status"] = status if status.startswith("missing") else f"missing: {status}"
    row.update(_flatten_metrics(record["metrics"]))
    return row


def _identity_from_path(path: Path) -> dict:
    """method/labels/fold/seed of the run folder that holds ``path`` (the layout's own parse)."""
    run = parse_run_dir(path)
    if run is None:
        return {"method": "unknown", "labels": NO_LABELS, "fold": None, "seed": None, "reference": False}
    return {"method": run.method, "labels": run.labels, "fold": run.fold, "seed": run.seed, "reference": run.reference}


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flatten_metrics(values: dict) -> dict:
    flat = {}
    for key, value in values.items():
        if key == "notes":
            flat["notes"] = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
        elif value is None:
            flat[key] = math.nan
        elif isinstance(value, (bool, int, float)):
            flat[key] = float(value)
        else:
            flat[key] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat


# ---------------------------------------------------------------- summary table


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """Numeric columns of a runs table other than its identifying ones."""
    return [
        column
        for column in runs.columns
        if column not in ID_COLUMNS
        and pd.api.types.is_numeric_dtype(runs[column])
        and not pd.api.types.is_bool_dtype(runs[column])
    ]


def _check_runs(runs: pd.DataFrame, metrics: Sequence[str] | None, needed=("method", "labels", "status")) -> list[str]:
    absent = [column for column in needed if column not in runs.columns]
    if absent:
        raise SummaryInputError(f"the runs table lacks columns {absent}; build it with collect_runs()")
    available = metric_columns(runs)
    if metrics is None:
        return available
    unknown = [m for m in metrics if m not in runs.columns]
    if unknown:
        raise SummaryInputError(f"metrics {unknown} are not in the runs table; available: {available}")
    return list(metrics)


def describe(values: Sequence[float], bounds: tuple[float, float] | None = None) -> dict:
    """mean, sd (ddof=1), 95% t-interval and n of the finite values; NaN where undefined.

    ``bounds`` clips the interval to the range the metric can take.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return {"mean": math.nan, "sd": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 0}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "sd": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 1}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "sd": sd, "ci95_low": low, "ci95_high": high, "n": n}


def metric_bounds(metric: str) -> tuple[float, float] | None:
    return (0.0, 1.0) if UNIT_INTERVAL_METRIC.match(metric) else None


def summarize(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (method, labels) present in ``runs``: n_runs (ok), n_missing, and per metric
    ``<metric>_mean, _sd, _ci95_low, _ci95_high, _n`` over the ok runs where it is finite;
    intervals of rates and areas are clipped to [0, 1].

    Methods without any row are absent; a method whose runs all failed has n_runs 0,
    its reasons in ``missing_reasons`` and NaN statistics.
    """
    metrics = _check_runs(runs, metrics)
    rows = []
    for (method, labels), group in runs.groupby(["method", "labels"], sort=False):
        ok = group["status"] == "ok"
        row = {
            "method": method,
            "labels": labels,
            "reference": bool(group["reference"].any()) if "reference" in group else False,
            "n_runs": int(ok.sum()),
            "n_missing": int((~ok).sum()),
            "missing_reasons": "; ".join(sorted(set(group.loc[~ok, "status"]))),
        }
        for metric in metrics:
            for suffix, value in describe(group.loc[ok, metric], metric_bounds(metric)).items():
                row[f"{metric}_{suffix}"] = value
        rows.append(row)
    columns = ["method", "labels", "reference", "n_runs", "n_missing", "missing_reasons"]
    columns += [f"{m}_{s}" for m in metrics for s in STAT_SUFFIXES]
    return pd.DataFrame(rows, columns=columns)


def summarized_metrics(summary: pd.DataFrame) -> list[str]:
    """The metrics a summary table holds, in column order."""
    return [column[: -len("_mean")] for column in summary.columns if column.endswith("_mean")]


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A Markdown table, one cell per metric as "mean ± sd [ci95_low, ci95_high]".

    Defaults to the headline metrics present. A single run shows "mean (n=1)"; no
    finite value shows "n/a".
    """
    available = summarized_metrics(summary)
    if metrics is None:
        metrics = [m for m in HEADLINE_METRICS if m in available] or available
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise SummaryInputError(f"metrics {unknown} are not in the summary; available: {available}")
    header = ["method", "labels", "runs", *metrics]
    lines = [_markdown_row(header), _markdown_row(["---"] * len(header))]
    for _, row in summary.iterrows():
        runs = f"{row['n_runs']}" + (f" ({row['n_missing']} missing)" if row["n_missing"] else "")
        cells = [_format_cell(row, metric, digits) for metric in metrics]
        lines.append(_markdown_row([str(row["method"]), str(row["labels"]), runs, *cells]))
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _format_cell(row: pd.Series, metric: str, digits: int) -> str:
    mean, n = row[f"{metric}_mean"], row[f"{metric}_n"]
    if not np.isfinite(mean):
        return "n/a"
    if n < 2:
        return f"{mean:.{digits}f} (n=1)"
    sd, low, high = row[f"{metric}_sd"], row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"]
    return f"{mean:.{digits}f} ± {sd:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


# ---------------------------------------------------------------- paired comparisons


def paired_difference(differences: Sequence[float], n_boot: int = 10000, seed: int = 0) -> dict:
    """Mean of paired differences, bootstrap 95% interval of that mean, Wilcoxon signed-rank p.

    Differences within 1e-12 of zero count as ties (floating-point noise). The
    interval needs at least 2 pairs; the Wilcoxon test at least 2 non-zero
    differences; otherwise NaN and ``note`` says why.
    """
    d = np.asarray(differences, dtype=float)
    d = np.where(np.abs(d) <= 1e-12, 0.0, d)
    result = {
        "n_pairs": int(d.size),
        "mean_diff": math.nan,
        "ci95_low": math.nan,
        "ci95_high": math.nan,
        "wilcoxon_p": math.nan,
        "note": "",
    }
    if d.size == 0:
        result["note"] = "no (fold, seed) pair has this metric in both runs"
        return result
    result["mean_diff"] = float(d.mean())
    notes = []
    if d.size >= 2:
        resampled = np.random.default_rng(seed).integers(0, d.size, size=(n_boot, d.size))
        means = d[resampled].mean(axis=1)
        result["ci95_low"], result["ci95_high"] = (float(v) for v in np.percentile(means, [2.5, 97.5]))
    else:
        notes.append("one pair: no interval")
    nonzero = int(np.count_nonzero(d))
    if nonzero >= 2:
        result["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    else:
        notes.append(f"{nonzero} non-zero difference(s): Wilcoxon test needs at least 2")
    result["note"] = "; ".join(notes)
    return result


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control) of the finite ones; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.empty(0)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _with_holm(rows: list[dict]) -> pd.DataFrame:
    """The comparison table, with p-values adjusted over all comparisons of the same metric (the rows carry
    no adjusted p: it depends on the whole table)."""
    table = pd.DataFrame(rows, columns=SIGNIFICANCE_COLUMNS)
    for _, index in table.groupby("metric", sort=False).groups.items():
        table.loc[index, "wilcoxon_p_holm"] = holm_adjust(table.loc[index, "wilcoxon_p"].to_numpy(dtype=float))
    return table


def _ok_runs(runs: pd.DataFrame, method: str, labels: str) -> pd.DataFrame:
    chosen = runs[(runs["method"] == method) & (runs["labels"] == labels) & (runs["status"] == "ok")]
    duplicated = chosen.duplicated(["fold", "seed"])
    if duplicated.any():
        pairs = chosen.loc[duplicated, ["fold", "seed"]].to_dict("records")
        raise SummaryInputError(
            f"{method} ({labels}) has several ok runs for (fold, seed) {pairs}; give each run its own metrics.json path"
        )
    return chosen


def _compare(runs, metrics, method, labels, baseline, baseline_labels, n_boot, seed, note="") -> list[dict]:
    keys = ["fold", "seed"]
    mine = _ok_runs(runs, method, labels)
    if mine.empty:
        note = "; ".join(filter(None, [note, f"{method} ({labels}) has no successful runs"]))
    if baseline_labels is None:
        theirs = mine.iloc[0:0]
    else:
        theirs = _ok_runs(runs, baseline, baseline_labels)
    merged = mine[keys + metrics].merge(theirs[keys + metrics], on=keys, suffixes=("", "__base"))
    rows = []
    for metric in metrics:
        diff = (merged[metric] - merged[f"{metric}__base"]).to_numpy(dtype=float)
        stats_row = paired_difference(diff[np.isfinite(diff)], n_boot=n_boot, seed=seed)
        if note:
            stats_row["note"] = "; ".join(filter(None, [note, stats_row["note"]]))
        rows.append(
            {
                "method": method,
                "labels": labels,
                "baseline": baseline,
                "baseline_labels": baseline_labels or "",
                "metric": metric,
                **stats_row,
            }
        )
    return rows


def _paired_metrics(runs: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    checked = _check_runs(runs, metrics, needed=("method", "labels", "status", "fold", "seed"))
    if metrics is None:
        return [m for m in HEADLINE_METRICS if m in checked] or checked
    return checked


def _baseline_labels(runs: pd.DataFrame, baseline: str, labels: str) -> tuple[str | None, str]:
    """Which label source of the baseline pairs with ``labels``, and a note when none does."""
    available = list(dict.fromkeys(runs.loc[runs["method"] == baseline, "labels"]))
    if not available:
        return None, f"baseline {baseline!r} has no runs"
    if labels in available:
        return labels, ""
    if len(available) == 1:
        return available[0], ""
    raise SummaryInputError(
        f"baseline {baseline!r} has label sources {available} but none matches {labels!r}; "
        "run the baseline with the same label sources or without labels"
    )


def significance(
    runs: pd.DataFrame,
    baselines: Mapping[str, str],
    metrics: Sequence[str] | None = None,
    n_boot: int = 10000,
    seed: int = 0,
) -> pd.DataFrame:
    """Each method against its baseline, paired on (fold, seed) over ok runs.

    ``baselines`` maps method -> baseline method (None or "" = no test). Every label source of a method
    is compared with the baseline's runs of the same label source, or with its
    only label source (``none`` for label-free baselines such as ``tl``).
    Differences are method minus baseline. Methods absent from ``runs`` are absent
    from the result. Columns: method, labels, baseline, baseline_labels, metric,
    n_pairs, mean_diff, ci95_low, ci95_high, wilcoxon_p, wilcoxon_p_holm (Holm-adjusted over every
    comparison of that metric in the table), note.
    """
    metrics = _paired_metrics(runs, metrics)
    rows = []
    for method, baseline in baselines.items():
        if not baseline:  # a method without a baseline (e.g. the baseline itself) is not tested
            continue
        if method == baseline:
            raise SummaryInputError(f"method {method!r} is mapped to itself as baseline; drop it from the mapping")
        for labels in dict.fromkeys(runs.loc[runs["method"] == method, "labels"]):
            baseline_labels, note = _baseline_labels(runs, baseline, labels)
            rows += _compare(runs, metrics, method, labels, baseline, baseline_labels, n_boot, seed, note)
    return _with_holm(rows)


def label_source_comparison(
    runs: pd.DataFrame, metrics: Sequence[str] | None = None, n_boot: int = 10000, seed: int = 0
) -> pd.DataFrame:
    """Manual against detected labels for every method run with both, paired on (fold, seed).

    Differences are manual minus detected (positive favours manual labels); same
    columns as :func:`significance`, with baseline = the method itself.
    """
    metrics = _paired_metrics(runs, metrics)
    rows = []
    for method in dict.fromkeys(runs["method"]):
        sources = set(runs.loc[runs["method"] == method, "labels"])
        if {MANUAL, DETECTED} <= sources:
            rows += _compare(runs, metrics, method, MANUAL, method, DETECTED, n_boot, seed)
    return _with_holm(rows)
