"""Choosing a dataset's training recipe on validation people only.

Each candidate recipe is one experiment that trained the same method on the same folds (the same seed, so the
same identity-disjoint splits). A run's figure is its best validation figure over epochs (the epoch early
stopping keeps), read from ``history.csv``: nothing here opens a test metric. Candidates are compared on the
fold units they share, by the mean over units and by the paired difference to the first candidate (the one in
use); the highest mean wins and ties go to the earlier candidate (list the cheaper recipes first).

    python -m emoverify.tuning.recipe --results results --method tl \\
        --candidates recipe_preset_k5 recipe_emb100_k5 ... [--figure tar_at_far_1e-2] [--out recipes.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from emoverify import metrics
from emoverify.layout import parse_run_dir
from emoverify.tuning.select import TIE_TOLERANCE, figure_used, kept_epoch, read_history

UNIT = ["repeat", "fold"]
RUN_COLUMNS = ["repeat", "fold", "seed", "labels", "validation", "figure_used", "best_epoch", "epochs_run"]


class RecipeError(ValueError):
    """Candidates that cannot be compared as given (the message says which and why)."""


def run_figures(experiment_dir, method: str, figure: str) -> pd.DataFrame:
    """One row per trained run of ``method`` in an experiment: repeat, fold, seed, labels, its validation figure
    at the epoch it shipped and that epoch (``kept_epoch``)."""
    rows = []
    for history in sorted(Path(experiment_dir, "runs", method).glob("*/repeat*/fold*/seed*/history.csv")):
        run, epochs = parse_run_dir(history), read_history(history)
        used = None if epochs is None else figure_used(epochs, figure)
        if run is None or used is None:
            continue
        kept = kept_epoch(epochs, used)
        value, best_epoch = float(kept[metrics.history_column(used)]), int(kept["epoch"])
        rows.append(
            {
                "repeat": run.repeat,
                "fold": run.fold,
                "seed": run.seed,
                "labels": run.label_source,
                "validation": value,
                "figure_used": used,
                "best_epoch": best_epoch,
                "epochs_run": int((epochs["epoch"] > 0).sum()),  # epoch 0: a head's untrained row
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def unit_figures(experiment_dir, method: str, figure: str) -> pd.DataFrame:
    """A candidate's figure per fold unit (repeat, fold): the mean over its seeds."""
    runs = run_figures(experiment_dir, method, figure)
    if runs.empty:
        raise RecipeError(f"{experiment_dir}: no trained run of {method} (no history.csv with a validation figure)")
    if runs["figure_used"].nunique() > 1:
        watched = sorted(runs["figure_used"].unique())
        raise RecipeError(f"{experiment_dir}: its runs watched different figures {watched}")
    return runs.groupby(UNIT, as_index=False).agg(
        validation=("validation", "mean"), best_epoch=("best_epoch", "mean"), epochs_run=("epochs_run", "mean")
    )


def identities_read(experiment_dir, development: set[str]) -> list[str]:
    """The people a candidate's trainings read (every identity of its folds.csv), checked to be development
    people: a candidate whose folds hold anyone else read people the study reports on, and stops the search."""
    folds_path = Path(experiment_dir, "splits", "folds.csv")
    if not folds_path.is_file():
        raise RecipeError(f"{experiment_dir}: no splits/folds.csv (did its trainings run?)")
    folds = pd.read_csv(folds_path, keep_default_na=False, dtype={"identity": str})
    people = sorted(set(folds["identity"]))
    outside = [person for person in people if person not in development]
    if outside:
        raise RecipeError(
            f"{experiment_dir}: its folds hold {len(outside)} people outside the development partition (e.g. "
            f"{', '.join(outside[:3])}); a choice made above the fold may read development people only: train the "
            "candidates with partition=development"
        )
    return people


def compare(candidates: dict[str, Path], method: str, figure: str) -> pd.DataFrame:
    """One row per candidate (in the given order) on the fold units every candidate trained: mean and sd of the
    validation figure over units, the paired difference to the first candidate, the mean kept epoch, and
    ``chosen`` for the winner."""
    if not candidates:
        raise RecipeError("no candidate recipes given")
    per_unit = {name: unit_figures(path, method, figure).set_index(UNIT) for name, path in candidates.items()}
    shared = sorted(set.intersection(*(set(table.index) for table in per_unit.values())))
    if not shared:
        raise RecipeError("the candidates share no fold unit: were they trained on the same folds?")
    first = next(iter(per_unit.values())).loc[shared, "validation"].to_numpy()
    rows = []
    for name, table in per_unit.items():
        values = table.loc[shared, "validation"].to_numpy()
        rows.append(
            {
                "candidate": name,
                "units": len(shared),
                "validation_mean": float(values.mean()),
                "validation_sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                "diff_to_first": float((values - first).mean()),
                "units_better_than_first": int((values > first + TIE_TOLERANCE).sum()),
                "mean_kept_epoch": float(table.loc[shared, "best_epoch"].mean()),
                "mean_epochs_run": float(table.loc[shared, "epochs_run"].mean()),
            }
        )
    table = pd.DataFrame(rows)
    best = table["validation_mean"].max()
    winner = int(np.flatnonzero(table["validation_mean"].to_numpy() >= best - TIE_TOLERANCE)[0])
    table["chosen"] = np.arange(len(table)) == winner
    table.insert(1, "figure", figure)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="the folder holding the experiments")
    parser.add_argument("--candidates", nargs="+", required=True, help="experiment names, the recipe in use first")
    parser.add_argument("--method", default="tl")
    parser.add_argument("--figure", default="tar_at_far_1e-2", choices=metrics.VALIDATION_FIGURES)
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    try:
        table = compare({name: args.results / name for name in args.candidates}, args.method, args.figure)
    except RecipeError as error:
        print(f"recipe comparison: {error}", file=sys.stderr)
        return 2
    print(table.to_string(index=False, float_format="{:.3f}".format))
    if args.out:
        table.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
