"""Choose which grid points a tuned protocol keeps, on development people only, alike for every arm.

    python -m emoverify.tuning.grid_search --dataset ckplus48 --experiment recipe_search/results/grid_ckplus48 \\
        [--keep 2] [--out workflow/presets/recipes/ckplus48/grid.yaml]

The experiment is a tuned study of the preset's methods on inner folds of its development people
(``workflow/presets/recipes/grid_protocol.yaml``, target ``selections``); its folds are checked to hold
development people only, and only its selections (each candidate's validation figure) are read. A grid point's
figure is the mean over label sources of its mean over fold units, so a method's true labels and its shuffled
control weigh alike; each method keeps its ``keep`` best points (ties to the smaller setting), the same
number for a method and its matched baseline (equal budgets), and the kept grid holds for every label source.
The configured (fallback) setting need not be among them. Written: the kept grids as method entries a preset
can take, with the partition, every point's figure and the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import yaml

from emoverify.tuning import recipe, recipe_search
from emoverify.tuning.grid import TuningConfigError

SETTING = "setting"


def point_figures(selections: list[dict]) -> pd.DataFrame:
    """One row per (method, grid point): its settings, the mean validation figure per label source, the mean
    over label sources (``figure``), and ``every_unit``: whether the point has a figure in every (label
    source, fold unit) its method has. Only such points are comparable: the configured fallback, say, trains
    only in folds too small to rank, and its mean over those folds is no match for a mean over all."""
    rows = []
    for selection in selections:
        for record in selection["candidates"]:
            if record["validation"] is None:
                continue
            rows.append(
                {
                    "method": selection["method"],
                    "labels": selection["labels"],
                    "unit": (selection["repeat"], selection["fold"]),
                    "point": json.dumps(record["settings"], sort_keys=True),
                    "validation": record["validation"],
                }
            )
    if not rows:
        raise TuningConfigError("no candidate logged a validation figure: did the selections run?")
    table = pd.DataFrame(rows)
    per_source = table.groupby(["method", "point", "labels"], as_index=False)["validation"].mean()
    wide = per_source.pivot_table(index=["method", "point"], columns="labels", values="validation")
    wide["figure"] = wide.mean(axis=1)
    cells = {key: set(zip(rows["labels"], rows["unit"])) for key, rows in table.groupby(["method", "point"])}
    method_cells: dict[str, set] = {}
    for (method, _), point_cells in cells.items():
        method_cells.setdefault(method, set()).update(point_cells)
    wide["every_unit"] = [cells[key] == method_cells[key[0]] for key in wide.index]
    return wide.reset_index()


def kept_grids(figures: pd.DataFrame, keep: int) -> dict[str, dict[str, list]]:
    """Each method's ``keep`` best points as a grid {knob: [values]} (ties to the smaller setting), among the
    points with a figure in every fold unit."""
    grids = {}
    for method, rows in figures.groupby("method"):
        points = [(row.figure, json.loads(row.point)) for row in rows.itertuples() if row.every_unit]
        if len(points) < keep:
            raise TuningConfigError(
                f"method {method} has {len(points)} grid points with figures in every fold unit, fewer than {keep}"
            )
        points.sort(key=lambda item: (-item[0], sorted(item[1].items())))
        kept = [settings for _, settings in points[:keep]]
        knobs = sorted(kept[0])
        if len(knobs) != 1:
            raise TuningConfigError(
                f"method {method} varies {knobs} together; the kept points form a grid of one knob only"
            )
        grids[method] = {knobs[0]: sorted(point[knobs[0]] for point in kept)}
    return grids


def read_selections(experiment: Path) -> list[dict]:
    paths = sorted((experiment / "selection").glob("*/*/repeat*/fold*.json"))
    if not paths:
        raise TuningConfigError(f"{experiment}: no selection files (run the grid protocol's target `selections`)")
    return [json.loads(path.read_text()) for path in paths]


def method_entries(config_methods: dict, grids: dict) -> dict:
    """The preset's method entries with their kept grid (a preset's ``methods`` section)."""
    return {method: {**config_methods[method], "grid": grid} for method, grid in grids.items()}


def _named_figures(figures: pd.DataFrame) -> dict[str, float]:
    return {f"{row.method} {row.point}": round(float(row.figure), 4) for row in figures.itertuples()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="the preset whose development partition was searched")
    parser.add_argument("--experiment", type=Path, required=True, help="results/<experiment> of the grid protocol")
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--out", type=Path, help="default: workflow/presets/recipes/<dataset>/grid.yaml")
    args = parser.parse_args(argv)
    try:
        partition = recipe_search.partition_of(args.dataset)
        read = recipe.identities_read(args.experiment, recipe_search.development_people(args.experiment, partition))
        figures = point_figures(read_selections(args.experiment))
        grids = kept_grids(figures, args.keep)
    except (recipe.RecipeError, recipe_search.RecipeSearchError, TuningConfigError) as error:
        print(f"grid search: {error}", file=sys.stderr)
        return 2
    config = yaml.safe_load((recipe_search.ROOT / "config.yaml").read_text())
    out = args.out or recipe_search.RECIPES / args.dataset / "grid.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"identity": read}).to_csv(out.with_name("grid_identities.csv"), index=False)
    points = _named_figures(figures[figures["every_unit"]])
    partial = _named_figures(figures[~figures["every_unit"]])
    record = {
        **partition,
        "development_people": len(read),
        "keep": args.keep,
        "figures": points,
        "not_ranked_missing_units": partial,
        "command": "python -m emoverify.tuning.grid_search "
        + shlex.join(["--dataset", args.dataset, "--experiment", str(args.experiment), "--keep", str(args.keep)]),
        "methods": method_entries(config["methods"], grids),
    }
    out.write_text(yaml.safe_dump(record, sort_keys=False))
    print(figures.to_string(index=False, float_format="{:.3f}".format))
    print(f"{len(read)} development people read; written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
