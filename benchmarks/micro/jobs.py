"""Fixed cost per run of the training and evaluation jobs, against the work they do.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.jobs [--data-root ../shared/datasets/ck_plus48/CK+48]
        [--repo .] [--methods tl tl_pdp_fbv] [--folds 0] [--seeds 0 1 2] [--demo] [--json PATH | --record]

Runs the real workflow (``snakemake -s <repo>/Snakefile``) in a scratch folder on the CK+48 preset, one job
at a time (``--cores 1``), for the chosen methods (manual labels), folds and seeds, and reads

- each job's wall time from Snakemake's own records (``.snakemake/metadata``: start and end of the job that
  wrote an output), so it counts everything a job costs: interpreter, imports, data loading, saving;
- the work of each training run from its ``history.csv`` (the seconds of every epoch: batches and the
  validation AUC), and the work of each evaluation (embedding the validation and test faces, scoring, writing
  the files) by timing ``embed_splits`` + ``score_and_save`` in this process, warm, on the same model;

and prints the fixed cost per run = (job wall time - work of the runs it holds) / runs it holds, i.e. start to
first batch plus last batch to exit, shared over the runs of one process. ``--repo`` may point at another
checkout (e.g. the commit before a change) to compare the two on the same machine and day: the benchmark then
runs again with that checkout's library first on PYTHONPATH, for its Snakemake runs and its timed evaluations.

``--demo`` adds the 1-epoch demo study: the training stage alone (``snakemake train --cores 1 --config
epochs=1`` after the splits exist), its wall time per training run, and a bare ``python -c "import torch"``
timed in the same session (median of 5), with their ratio.

The machine's load changes the figures; compare runs made back to back, and ratios within one run.
Figures: ``training/`` and ``evaluation/`` median work and fixed cost per run (``_s``: seconds), the stage's wall
time, and with ``--demo`` the demo's seconds per training run, a bare ``import torch`` and their ratio.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import emoverify
from benchmarks import record

MEASURED_LIBRARY = "EMOVERIFY_BENCHMARKED_LIBRARY"  # set once this process runs with --repo's library


def snakemake(repo: Path, workdir: Path, configfiles: list[Path], targets: list[str], config: list[str]) -> float:
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir)]
    # targets first: --configfile and --config take every word after them
    command += [*targets, "--cores", "1", "--configfile", *map(str, configfiles), "--config", *config]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"snakemake failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return time.perf_counter() - started


def recorded_start(workdir: Path, output: str) -> float:
    """When Snakemake started the job that wrote ``output`` (its metadata record, file backend)."""
    name = base64.urlsafe_b64encode(output.encode()).decode()
    parts = [name[i : i + 254] for i in range(0, len(name), 254)]
    metadata = workdir / ".snakemake" / "metadata" / Path(*["@" + part for part in parts[:-1]], parts[-1])
    return float(json.loads(metadata.read_text())["starttime"])


def job_spans(workdir: Path, outputs: dict[str, list[str]], stage_end: float) -> dict[str, list]:
    """Per kind (training, evaluation): [(seconds, outputs of one job)], where a job runs from its start to the
    next job's start (``--cores 1`` runs them one after another), the last one to the end of Snakemake."""
    starts = {output: recorded_start(workdir, output) for paths in outputs.values() for output in paths}
    ordered = sorted({round(start, 1) for start in starts.values()})
    ends = dict(zip(ordered, ordered[1:] + [stage_end]))
    spans: dict[str, list] = {}
    for kind, paths in outputs.items():
        by_job: dict[float, list[str]] = {}
        for output in paths:
            by_job.setdefault(round(starts[output], 1), []).append(output)
        spans[kind] = [(ends[start] - start, held) for start, held in by_job.items()]
    return spans


def evaluation_work(repo: Path, workdir: Path, layout, run, config: dict) -> float:
    """Seconds of embedding + scoring one run, warm (the second of two calls), in this process."""
    from types import SimpleNamespace

    from emoverify.evaluation import verification
    from emoverify.labels.sources import LabelSource
    from emoverify.model import checkpoint
    from emoverify.splits import fold_data

    model, state = checkpoint.load_checkpoint(workdir / layout.run_file(run, "model.pt"), "cpu")
    with contextlib.chdir(workdir):  # the manifest's crop paths are relative to the study's folder
        faces = fold_data.load_fold(
            fold_data.FoldFiles(layout.manifest, layout.folds),
            run.fold,
            int(state["training"]["input_size"]),
            label_source=LabelSource(run.label_source),
            splits=("val", "test"),
        )
    rank1_draws = config.get("evaluation", {}).get("rank1_draws", 10)  # the schema default when unset
    evaluation = {"exclude_same_session": True, "rank1_draws": rank1_draws}
    with tempfile.TemporaryDirectory() as scratch:
        outputs = SimpleNamespace(embeddings=f"{scratch}/e.npz", metrics=f"{scratch}/m.json")
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            embeddings = verification.embed_splits(model, faces, "cpu")
            verification.score_and_save(
                embeddings, faces, run, geometry=model.geometry, evaluation=evaluation, outputs=outputs
            )
            seconds.append(time.perf_counter() - started)
    return seconds[-1]


def study(args, repo: Path, workdir: Path) -> dict:
    import pandas as pd
    import yaml

    from emoverify.layout import Layout, Run

    configfiles = [repo / "config.yaml", repo / "workflow" / "presets" / "ckplus48.yaml"]
    config = yaml.safe_load(configfiles[0].read_text())
    config.update(yaml.safe_load(configfiles[1].read_text()))
    overrides = [f"data_root={args.data_root}", f"seeds={list(args.seeds)}", "label_sources=[manual]"]
    overrides.append(f"run_methods={list(args.methods)}")
    if args.epochs:
        overrides.append(f"epochs={args.epochs}")
    if args.batch_seeds:
        overrides.append("batch_seeds=true")
    layout = Layout("ckplus48")
    prepare = snakemake(repo, workdir, configfiles, ["splits"], overrides)
    print(f"faces + splits of CK+48: {prepare:.1f} s")
    figures = {"faces_and_splits_s": prepare}
    runs = [Run(m, "manual", f, s) for m in args.methods for f in args.folds for s in args.seeds]
    targets = [layout.run_file(run, "metrics.json") for run in runs]
    stage = snakemake(repo, workdir, configfiles, targets, overrides)
    models = [layout.run_file(run, "model.pt") for run in runs]
    metrics = [layout.run_file(run, "metrics.json") for run in runs]
    spans = job_spans(workdir, {"training": models, "evaluation": metrics}, time.time())
    train_jobs, eval_jobs = spans["training"], spans["evaluation"]
    work = {path: pd.read_csv(workdir / path.replace("model.pt", "history.csv"))["seconds"].sum() for path in models}
    eval_work = {path: evaluation_work(repo, workdir, layout, run, config) for path, run in zip(metrics, runs)}
    figures.update(report("training", train_jobs, work))
    figures.update(report("evaluation", eval_jobs, eval_work))
    print(
        f"{len(runs)} runs trained and evaluated in {stage:.1f} s of Snakemake wall time ({len(train_jobs)} "
        f"training and {len(eval_jobs)} evaluation jobs)"
    )
    return {**figures, "runs": len(runs), "stage_s": stage}


def report(kind: str, jobs: dict, work: dict) -> dict:
    fixed = []
    for seconds, outputs in jobs:
        runs = len(outputs)
        fixed += [(seconds - sum(work[o] for o in outputs)) / runs] * runs
    median_work = statistics.median(work.values())
    median_fixed = statistics.median(fixed)
    print(
        f"{kind}: {len(work)} runs in {len(jobs)} jobs; median work per run {median_work:.2f} s, "
        f"median fixed cost per run {median_fixed:.2f} s ({100 * median_fixed / median_work:.0f} % of the work), "
        f"fixed cost per run min {min(fixed):.2f} / max {max(fixed):.2f} s"
    )
    return {
        f"{kind}/jobs": len(jobs),
        f"{kind}/median_work_s": median_work,
        f"{kind}/median_fixed_s": median_fixed,
        f"{kind}/max_fixed_s": max(fixed),
    }


def demo(repo: Path, workdir: Path, batch_seeds: bool) -> dict:
    configfiles = [repo / "config.yaml"]
    overrides = ["epochs=1", "batch_seeds=true"] if batch_seeds else ["epochs=1"]
    snakemake(repo, workdir, configfiles, ["splits", "labels"], overrides)
    started = time.time()
    wall = snakemake(repo, workdir, configfiles, ["train"], overrides)
    models = sorted(str(p.relative_to(workdir)) for p in (workdir / "results" / "demo" / "runs").rglob("model.pt"))
    assert all(recorded_start(workdir, m) >= started for m in models), "training jobs ran before the stage"
    torch_import = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        torch_import.append(time.perf_counter() - t)
    bare = statistics.median(torch_import)
    per_run = wall / len(models)
    print(
        f"demo, 1 epoch: training stage {wall:.1f} s for {len(models)} runs = {per_run:.2f} s per run; "
        f"bare `import torch` {bare:.2f} s (median of 5); ratio {per_run / bare:.2f}"
    )
    return {
        "demo/training_runs": len(models),
        "demo/per_training_run_s": per_run,
        "demo/import_torch_s": bare,
        "demo/run_over_import_torch": per_run / bare,
    }


def run_with_library_of(repo: Path) -> None:
    """Run this benchmark again with ``repo``'s library first on PYTHONPATH, unless it already imports it."""
    library = repo / "workflow"
    if Path(emoverify.__file__).resolve().parents[1] == library or os.environ.get(MEASURED_LIBRARY):
        return
    paths = [str(library), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), MEASURED_LIBRARY: str(library)}
    os.execve(sys.executable, [sys.executable, "-m", __spec__.name, *sys.argv[1:]], env)


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--data-root", default=str(record.DATASETS / "ck_plus48" / "CK+48"))
    parser.add_argument("--repo", type=Path, default=record.REPO_ROOT, help="checkout whose workflow is measured")
    parser.add_argument("--methods", nargs="+", default=["tl", "tl_pdp_fbv"])
    parser.add_argument("--folds", nargs="+", type=int, default=[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="instead of the preset's (the fixed cost does not depend on it)")
    parser.add_argument("--batch-seeds", action="store_true", help="one job per method x labels x fold")
    parser.add_argument("--demo", action="store_true", help="also time the 1-epoch demo training stage")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    repo = args.repo.resolve()
    run_with_library_of(repo)
    with tempfile.TemporaryDirectory(prefix="bench_jobs_") as scratch:
        workdir = args.keep.resolve() if args.keep else Path(scratch)
        print(f"measuring {repo} in {workdir}")
        figures = study(args, repo, workdir / "ckplus48")
        if args.demo:
            figures.update(demo(repo, workdir / "demo", args.batch_seeds))
    record.save(args, __spec__.name, figures, __doc__)


if __name__ == "__main__":
    main()
