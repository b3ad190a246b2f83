"""Search a dataset's training recipe on its development people only, and write what it read and chose.

    python -m emoverify.tuning.recipe_search --dataset ckplus48 --data-root ../shared/datasets/ck_plus48/CK+48 \\
        [--workdir recipe_search] [--cores 2] [--figure tar_at_far_1e-2] [--out workflow/presets/recipes/ckplus48]

Each file in ``workflow/presets/recipes/<dataset>/`` is one candidate recipe (overrides of the dataset's
preset), listed cheapest first in ``order.txt``. For each, the workflow trains the method of
``workflow/presets/recipes/protocol.yaml`` (tl: no expression labels) on inner folds of the preset's
development people (``partition: development``; the preset's ``development_fraction`` and
``development_seed``), target ``train`` alone: no evaluation runs, and no one the study reports on is read.
``emoverify.tuning.recipe`` then compares the candidates' best validation figures (``history.csv``), after
checking that every candidate's folds hold development people only. Written to ``--out``:
``identities.csv`` (the people read) and ``chosen.yaml`` (the partition, the figures, the winner and the
command).

The candidates share what no recipe changes: later candidates hard-link the first one's dataset, faces,
features and labels stages, and ``--seed-from`` gives the first one those of a finished experiment in the
search's own ``results/`` (same dataset and face settings), so faces are detected and described once. Snakemake's
rerun rules still apply to a seed: a stage made by other code or settings may be made again.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from emoverify.tuning import recipe

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ROOT / "workflow" / "presets" / "recipes"


class RecipeSearchError(ValueError):
    """A search that cannot run as asked (the message says what to change)."""


def candidates(dataset: str, recipes: Path = RECIPES) -> list[str]:
    """The candidate names of ``order.txt``, each checked to have its file."""
    folder = recipes / dataset
    if not (folder / "order.txt").is_file():
        raise RecipeSearchError(f"no {folder}/order.txt: list the dataset's candidate recipes there")
    names = [line.split("#")[0].strip() for line in (folder / "order.txt").read_text().splitlines()]
    names = [name for name in names if name]
    missing = [name for name in names if not (folder / f"{name}.yaml").is_file()]
    if missing:
        raise RecipeSearchError(f"{folder}/order.txt names recipes without a file: {', '.join(missing)}")
    return names


def partition_of(dataset: str) -> dict:
    """The preset's development partition (fraction, seed and draw); a preset without one cannot be searched."""
    preset = yaml.safe_load((ROOT / "workflow" / "presets" / f"{dataset}.yaml").read_text())
    fraction = float(preset.get("development_fraction", 0))
    if fraction <= 0:
        raise RecipeSearchError(
            f"preset {dataset} sets no development_fraction: a recipe search trains on development people only; "
            "set one in the preset, or take a recipe chosen on another dataset's development people"
        )
    return {
        "dataset": dataset,
        "development_fraction": fraction,
        "development_seed": int(preset.get("development_seed", 0)),
        "development_partition": str(preset.get("development_partition", "sorted")),
    }


def experiment_name(dataset: str, candidate: str) -> str:
    return f"recipe_{dataset}_{candidate}"


def snakemake_command(args, candidate: str) -> list[str]:
    """The workflow run that trains one candidate on the development people's inner folds."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(args.workdir), "train"]
    command += ["--cores", str(args.cores), "--configfile", str(ROOT / "config.yaml")]
    command += [str(ROOT / "workflow" / "presets" / f"{args.dataset}.yaml"), str(RECIPES / "protocol.yaml")]
    command += [str(RECIPES / args.dataset / f"{candidate}.yaml")]
    command += ["--config", f"data_root={args.data_root}", f"experiment={experiment_name(args.dataset, candidate)}"]
    return command


SHARED_STAGES = ("dataset", "faces", "features", "labels")  # what no candidate's recipe changes


def seed_shared_stages(source_experiment: Path, experiment: Path) -> list[str]:
    """Hard-link a finished experiment's (the first candidate's) dataset, faces, features and labels folders into a
    candidate's empty experiment folder, so face detection and descriptors run once per search, not per candidate;
    returns the stages linked."""
    linked = []
    for stage in SHARED_STAGES:
        source, target = source_experiment / stage, experiment / stage
        if source.is_dir() and not target.exists():
            shutil.copytree(source, target, copy_function=os.link)
            linked.append(stage)
    return linked


def development_people(experiment_dir: Path, partition: dict) -> set[str]:
    """The development identities of the partition, drawn from the experiment's faces manifest as the splits
    stage draws them."""
    from emoverify.splits.folds import development_identities

    manifest = pd.read_csv(experiment_dir / "faces" / "manifest.csv", keep_default_na=False, dtype={"identity": str})
    return set(
        development_identities(
            manifest,
            fraction=partition["development_fraction"],
            seed=partition["development_seed"],
            draw=partition.get("development_partition", "sorted"),
        )
    )


def choose(experiments: dict[str, Path], partition: dict, method: str, figure: str) -> tuple[pd.DataFrame, list]:
    """The comparison table and the people read, after checking every candidate read development people only."""
    first = next(iter(experiments.values()))
    development = development_people(first, partition)
    read = sorted({person for path in experiments.values() for person in recipe.identities_read(path, development)})
    return recipe.compare(experiments, method, figure), read


def write_choice(out: Path, table: pd.DataFrame, read: list, partition: dict, command: str, recipes: Path) -> None:
    """identities.csv (the people read) and chosen.yaml (partition, figures, winner, command) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"identity": read}).to_csv(out / "identities.csv", index=False)
    winner = table.loc[table["chosen"], "candidate"].iloc[0]
    figures = {
        row.candidate: {"validation_mean": round(float(row.validation_mean), 4), "units": int(row.units)}
        for row in table.itertuples()
    }
    record = {
        **partition,
        "development_people": len(read),
        "figure": str(table["figure"].iloc[0]),
        "candidates": figures,
        "chosen": winner,
        "recipe": yaml.safe_load((recipes / f"{winner}.yaml").read_text()),
        "command": command,
    }
    (out / "chosen.yaml").write_text(yaml.safe_dump(record, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="a preset with a folder under workflow/presets/recipes")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("recipe_search"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--figure", default="tar_at_far_1e-2")
    parser.add_argument("--out", type=Path, help="where identities.csv and chosen.yaml go (default: the recipes)")
    parser.add_argument(
        "--seed-from",
        type=Path,
        help="a finished experiment folder of the same dataset and face settings whose dataset, faces, features "
        "and labels stages the first candidate reuses (hard links) instead of detecting faces again",
    )
    args = parser.parse_args(argv)
    args.data_root = args.data_root.resolve()
    try:
        partition = partition_of(args.dataset)
        names = candidates(args.dataset)
    except RecipeSearchError as error:
        print(f"recipe search: {error}", file=sys.stderr)
        return 2
    if args.seed_from is not None and args.seed_from.resolve().parent != (args.workdir / "results").resolve():
        print(
            f"recipe search: --seed-from {args.seed_from} must be an experiment folder in {args.workdir}/results "
            "(a faces manifest names its crops relative to the working directory); link or copy it there",
            file=sys.stderr,
        )
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    experiments = {name: args.workdir / "results" / experiment_name(args.dataset, name) for name in names}
    for name in names:
        source = experiments[names[0]] if name != names[0] else args.seed_from
        if source is not None:
            seed_shared_stages(source, experiments[name])
        done = subprocess.run(snakemake_command(args, name), capture_output=True, text=True)
        if done.returncode:
            print(f"candidate {name}: snakemake failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}", file=sys.stderr)
            return 1
        print(f"{name}: trained (or found up to date)", flush=True)
    (method,) = yaml.safe_load((RECIPES / "protocol.yaml").read_text())["run_methods"]
    try:
        table, read = choose(experiments, partition, method, args.figure)
    except recipe.RecipeError as error:
        print(f"recipe search: {error}", file=sys.stderr)
        return 2
    command = "python -m emoverify.tuning.recipe_search " + shlex.join(
        ["--dataset", args.dataset, "--data-root", "<data_root>", "--cores", str(args.cores), "--figure", args.figure]
    )
    write_choice(args.out or RECIPES / args.dataset, table, read, partition, command, RECIPES / args.dataset)
    print(table.to_string(index=False, float_format="{:.3f}".format))
    print(f"{len(read)} development people read; written: {args.out or RECIPES / args.dataset}/chosen.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
