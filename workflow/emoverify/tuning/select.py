"""Selection on validation people only: one candidate per (method, label source, repeat, fold), from the validation
figures its training runs logged (``history.csv``), never from a test metric (the rule has none as input).

A run's figure is the watched validation figure at its kept epoch (the history's ``shipped`` row; with the
default early stopping that is the column's best value; a head's history starts with epoch 0, the untrained
head, so a candidate whose training does not beat the recognizer on validation people scores as the
recognizer); a candidate's figure is the mean over its seeds. The highest wins; ties go to the
candidate with the smaller settings (the grid's order). A fold whose validation people are fewer than
``min_validation_identities`` cannot rank candidates: the method's configured setting is taken, and the
selection says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emoverify import metrics

TIE_TOLERANCE = 1e-12


class SelectionError(ValueError):
    """Selection inputs that cannot be read as given (the message says which)."""


def read_history(history_path) -> pd.DataFrame | None:
    """A run's history.csv, or None for a run that trained nothing (missing or empty: the data could not
    feed the method)."""
    path = Path(history_path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    return pd.read_csv(path)


def figure_used(history: pd.DataFrame, figure: str) -> str | None:
    """``figure`` where the history logged it, else ``auc`` where the validation people give no such figure
    (too few negative pairs); None when neither was logged."""
    for used in (figure, "auc"):
        column = metrics.history_column(used)
        if column in history and history[column].notna().any():
            return used
    return None


def run_figure(history_path, figure: str) -> tuple[float, str] | None:
    """(value, figure used) of one run: its watched validation figure (``figure_used``) at the epoch it
    shipped (``kept_epoch``); None for a run that trained nothing or logged no figure."""
    history = read_history(history_path)
    used = None if history is None else figure_used(history, figure)
    if used is None:
        return None
    return float(kept_epoch(history, used)[metrics.history_column(used)]), used


def kept_epoch(history: pd.DataFrame, figure: str) -> pd.Series:
    """The history's row of the epoch the run shipped: the one marked ``shipped`` (with ``training.min_epochs``
    or ``early_stopping: resolved`` it need not hold the figure's best value), else, in a history written before
    that column, the first row with the figure's best value."""
    if "shipped" in history and history["shipped"].astype(bool).any():
        return history[history["shipped"].astype(bool)].iloc[0]
    return history.loc[history[metrics.history_column(figure)].idxmax()]


def validation_identities(folds: pd.DataFrame, repeat: int, fold: int) -> int:
    rows = folds[(folds["repeat"] == repeat) & (folds["fold"] == fold) & (folds["split"] == "val")]
    return int(rows["identity"].nunique())


def candidate_record(name: str, settings: dict, history_paths: list, figure: str) -> dict:
    """A candidate's validation figure averaged over its seeds (the seeds that trained)."""
    figures = [run_figure(path, figure) for path in history_paths]
    trained = [f for f in figures if f is not None]
    record = {"name": name, "settings": settings, "runs": len(history_paths), "runs_trained": len(trained)}
    if not trained:
        return {**record, "validation": None, "figure_used": None, "status": "missing: no run trained"}
    used = {f[1] for f in trained}
    if len(used) > 1:
        raise SelectionError(f"candidate {name}: its seeds watched different figures {sorted(used)}")
    return {**record, "validation": float(np.mean([f[0] for f in trained])), "figure_used": used.pop(), "status": "ok"}


def choose(records: list[dict], default_name: str, n_validation: int, min_validation: int) -> tuple[str | None, str]:
    """The winner's name and why. ``records`` are in grid order (smallest settings first)."""
    if n_validation < min_validation:
        if any(r["name"] == default_name and r["status"] == "ok" for r in records):
            return default_name, (
                f"fallback: {n_validation} validation people < {min_validation} (tuning.min_validation_identities) "
                "cannot rank candidates; the method's configured setting is used"
            )
        return None, f"fallback candidate {default_name} did not train and the fold cannot rank the others"
    ranked = [r for r in records if r["status"] == "ok" and r["validation"] is not None]
    if not ranked:
        return None, "no candidate trained"
    best = max(r["validation"] for r in ranked)
    winner = next(r for r in ranked if r["validation"] >= best - TIE_TOLERANCE)  # first: smallest settings
    tied = sum(r["validation"] >= best - TIE_TOLERANCE for r in ranked)
    why = f"highest mean validation {winner['figure_used']} ({best:.4f}) of {len(ranked)} candidates"
    return winner["name"], why + (f"; {tied} tied, the smallest setting taken" if tied > 1 else "")


def select(
    candidates: list[tuple[str, dict, list]],
    *,
    figure: str,
    folds: pd.DataFrame,
    repeat: int,
    fold: int,
    default_name: str,
    min_validation_identities: int,
    fallback: tuple | None = None,
) -> dict:
    """The selection record of one (method, labels, repeat, fold).

    ``candidates``: (name, settings, history paths of its seeds) in grid order; ``fallback``: the same for the
    configured setting where it is not a grid point (taken only when the fold cannot rank, never ranked).
    """
    records = [candidate_record(name, settings, paths, figure) for name, settings, paths in candidates]
    n_validation = validation_identities(folds, repeat, fold)
    if n_validation < min_validation_identities and fallback is not None:
        records.append(candidate_record(*fallback, figure))
    winner, reason = choose(records, default_name, n_validation, min_validation_identities)
    settings = next((r["settings"] for r in records if r["name"] == winner), None)
    return {
        "figure": figure,
        "validation_identities": n_validation,
        "min_validation_identities": min_validation_identities,
        "tuned": n_validation >= min_validation_identities,
        "candidates": records,
        "winner": winner,
        "winner_settings": settings,
        "reason": reason,
    }
