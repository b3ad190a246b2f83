"""The runs table: one row per run, gathered from its metrics.json, and the fold-level units tests run on.

Columns: ``method, labels, repeat, fold, seed, status, reference, path, notes``, one column per metric and
the run's training facts (``best_epoch``, ``epochs_run``, ``validation_figure`` and its value ``val_figure``,
``pairs_<loss>``, ``losses_without_pairs``; with relative expression weights ``expression_weights``,
``calibration_batches``, ``grad_norm_<term>``, ``relative_weight_<term>``, ``weight_<term>`` and
``weight_reasons``); a tuned study adds ``candidate`` and ``setting_<knob>``.
``status`` is ``ok`` or ``missing: <reason>``: a run that failed or never wrote its file is a row, so the
report says so instead of crashing or quietly shrinking the study.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from emoverify.layout import parse_run_dir
from emoverify.registry import NO_LABELS

ID_COLUMNS = ("method", "labels", "repeat", "fold", "seed", "status", "reference", "path", "notes")
UNIT = ["repeat", "fold"]  # the independent unit: one fold of one repeat (seeds within it are averaged)
TRAINING_TEXT_COLUMNS = (
    "losses_without_pairs",
    "validation_figure",
    "candidate",
    "single_session_losses",
    "expression_weights",
    "weight_reasons",
    "rare_expressions",
)
# counts and training facts are numbers in the runs table, not metrics to summarise or test
NOT_METRICS = (
    "best_epoch",
    "epochs_run",
    "val_figure",
    "threshold",
    "n_test_images",
    "n_test_identities",
    "calibration_batches",
)
# prefixes of training facts (pairs used, tuned settings, a relative weighting's norms and weights)
NOT_METRIC_PREFIXES = ("n_", "pairs_", "setting_", "grad_norm_", "relative_weight_", "weight_")


class SummaryInputError(ValueError):
    """A runs table or request that cannot be summarised as given (the message says what to fix)."""


def collect_runs(metrics_paths: Iterable) -> pd.DataFrame:
    """One row per metrics.json path; unreadable or absent files become ``missing`` rows.

    Each file holds ``method, labels, repeat, fold, seed`` (read from the run folder's path when the file
    cannot be read), a ``metrics`` mapping (``null`` becomes NaN, a ``notes`` list is joined with "; ") and,
    for trained runs, a ``training`` mapping.
    """
    rows = [_run_row(Path(path)) for path in metrics_paths]
    other_columns = sorted({key for row in rows for key in row} - set(ID_COLUMNS))
    table = pd.DataFrame(rows, columns=[*ID_COLUMNS, *other_columns])
    for column in ("repeat", "fold", "seed"):
        table[column] = pd.array(table[column], dtype="Int64")
    table["reference"] = table["reference"].astype(bool)
    for column in ("notes", *TRAINING_TEXT_COLUMNS):
        if column in table:
            table[column] = table[column].fillna("").astype(str)
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
    for key in ("repeat", "fold", "seed"):
        if key in record:
            row[key] = _as_int(record[key])
    row["reference"] = bool(record.get("reference", row["reference"]))
    status = str(record.get("status", "ok"))
    if status != "ok":
        row["status"] = status if status.startswith("missing") else f"missing: {status}"
    row.update(_flatten(record["metrics"]))
    if isinstance(record.get("training"), dict):
        row.update(_flatten(record["training"]))
    return row


def _identity_from_path(path: Path) -> dict:
    """method/labels/repeat/fold/seed of the run folder that holds ``path`` (the layout's own parse)."""
    run = parse_run_dir(path)
    if run is None:
        return {
            "method": "unknown",
            "labels": NO_LABELS,
            "repeat": None,
            "fold": None,
            "seed": None,
            "reference": False,
        }
    return {
        "method": run.method,
        "labels": run.label_source,
        "repeat": run.repeat,
        "fold": run.fold,
        "seed": run.seed,
        "reference": run.reference,
    }


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flatten(values: dict) -> dict:
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


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The metrics of a runs table: numeric columns other than identifiers, counts, training facts and tuned
    settings, and
    only those with a finite value in some ok run (a metric no run could compute is absent, not NaN)."""
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    return [
        column
        for column in runs.columns
        if column not in ID_COLUMNS
        and column not in NOT_METRICS
        and not column.startswith(NOT_METRIC_PREFIXES)
        and pd.api.types.is_numeric_dtype(runs[column])
        and not pd.api.types.is_bool_dtype(runs[column])
        and ok[column].notna().any()
    ]


def check_runs(runs: pd.DataFrame, metrics: Sequence[str] | None, needed=("method", "labels", "status")) -> list[str]:
    """The metrics to use (all present by default), after checking the table has what a summary needs."""
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


def ok_runs(runs: pd.DataFrame, method: str, label_source: str) -> pd.DataFrame:
    chosen = runs[(runs["method"] == method) & (runs["labels"] == label_source) & (runs["status"] == "ok")]
    keys = [*UNIT, "seed"]
    duplicated = chosen.duplicated(keys)
    if duplicated.any():
        pairs = chosen.loc[duplicated, keys].to_dict("records")
        raise SummaryInputError(
            f"{method} ({label_source}) has several ok runs for (repeat, fold, seed) {pairs}; give each run its own "
            "metrics.json path"
        )
    return chosen


def fold_units(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per (repeat, fold) of the given ok runs, each metric's mean over the seeds where it is finite, and the
    number of seeds: seeds share their fold's people, so the fold (not the run) is the independent unit."""
    if runs.empty:
        return pd.DataFrame(columns=[*UNIT, "n_seeds", *metrics])
    grouped = runs.groupby(UNIT, sort=True)
    units = grouped[list(metrics)].mean()
    units.insert(0, "n_seeds", grouped.size())
    return units.reset_index()
