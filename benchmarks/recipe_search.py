"""Search a dataset's training recipe on validation people only, and print the comparison.

Usage (from the repository root):
    .venv/bin/python benchmarks/recipe_search.py --dataset ckplus48 --data-root ../shared/datasets/ck_plus48/CK+48
        [--workdir recipe_search] [--folds 5] [--cores 2] [--figure tar_at_far_1e-2]

Each file in ``benchmarks/recipes/<dataset>/`` is one candidate recipe (overrides of the dataset's preset),
listed cheapest first in ``order.txt`` with the recipe in use first. For each, the real workflow trains the
method of ``benchmarks/recipes/protocol.yaml`` (tl: no expression labels) on every fold of one repeat, with
the target ``train`` alone: no evaluation runs, so no test figure exists to be looked at. The comparison
(``emoverify.tuning.recipe``) then reads each run's best validation figure from its ``history.csv`` and picks
the highest mean over the fold units, ties to the earlier candidate.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]
RECIPES = HERE / "benchmarks" / "recipes"
sys.path.insert(0, str(HERE / "workflow"))

from emoverify.tuning import recipe  # noqa: E402


def candidates(dataset: str) -> list[str]:
    folder = RECIPES / dataset
    names = [line.split("#")[0].strip() for line in (folder / "order.txt").read_text().splitlines()]
    names = [name for name in names if name]
    missing = [name for name in names if not (folder / f"{name}.yaml").is_file()]
    if missing:
        sys.exit(f"{folder}/order.txt names recipes without a file: {', '.join(missing)}")
    return names


def experiment_name(candidate: str, folds: int) -> str:
    return f"recipe_{candidate}_k{folds}"


def train_candidate(args, candidate: str) -> float:
    command = [sys.executable, "-m", "snakemake", "-s", str(HERE / "Snakefile"), "-d", str(args.workdir)]
    command += ["train", "--cores", str(args.cores), "--configfile", str(HERE / "config.yaml")]
    command += [str(HERE / "workflow" / "presets" / f"{args.dataset}.yaml"), str(RECIPES / "protocol.yaml")]
    command += [str(RECIPES / args.dataset / f"{candidate}.yaml"), "--config", f"data_root={args.data_root}"]
    command += [f"experiment={experiment_name(candidate, args.folds)}", f"folds={args.folds}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"candidate {candidate}: snakemake failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="a preset name with a folder under benchmarks/recipes")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("recipe_search"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--figure", default="tar_at_far_1e-2")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.data_root = args.data_root.resolve()
    names = candidates(args.dataset)
    for name in names:
        seconds = train_candidate(args, name)
        print(f"{name}: trained (or found up to date) in {seconds:.0f} s", flush=True)
    experiments = {name: args.workdir / "results" / experiment_name(name, args.folds) for name in names}
    (method,) = yaml.safe_load((RECIPES / "protocol.yaml").read_text())["run_methods"]  # the one method trained
    table = recipe.compare(experiments, method, args.figure)
    out = args.workdir / f"recipes_{args.dataset}_k{args.folds}.csv"
    table.to_csv(out, index=False)
    print(table.to_string(index=False, float_format="{:.3f}".format))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
