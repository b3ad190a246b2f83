"""What a level0 fine-tune run from cached activations costs against a head run and a bare ``import torch``.

Both arms run as the pipeline runs them, on the same faces and budget.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.finetune_runs [--people 448 --images 6] [--epochs 20]
        [--methods tl tl_pdp] [--repeats 2] [--patience N] [--json PATH | --record]

The settings are ``workflow/presets/lfw_emotion_finetune.yaml``'s laid over config.yaml (epochs, P x K,
optimizer, learning rate, validation figure), with ``--methods`` as its run_methods; the head arm is the same
config with ``training.backbone: head`` on dlib's descriptors. Early stopping's patience is set to the epochs
(``--patience`` to change it), so every run of both arms trains the whole budget: on synthetic faces where
early stopping ends a run says nothing about the pipeline's cost.

The faces are synthetic, the size of an lfw_emotion fold by default (448 people, the 498 less the development
tenth, 6 images each, split by the library's fold maker into the preset's 5 folds and validation fraction):
level0 activations (256 x 4 x 4, and a mirror row each) scattered around one centre per person, written as the
``dlib_activations`` rule writes its cache beside a chips file whose sha1 it records (blank chips: the job
only hashes them), and for the head arm the 128-d descriptors dlib's own top part gives those activations.

Timed in the same run, interleaved ``--repeats`` times, each figure the median:

- a bare ``python -c "import torch"`` in a fresh process;
- each arm's fold unit (0, 0) training job as its rule runs it (``benchmarks.micro.head_runs``' unit job: the
  fold loaded by ``fold_data.load_rule_fold`` once per label source, then ``training.jobs.train_unit`` over the
  unit's runs, ``batch_heads``), in a fresh process, start to exit: the per-job view, whose seconds over its
  runs are the training stage's cost per run, start-up and loading included;
- inside that job, each run's training seconds (``train_unit``'s, less the fold loads it triggered), wall and
  the process's CPU (one torch thread, so a shared machine's load stretches it less), and the fold loads': the
  cost per run of the training itself.

Figures: ``import_torch_s``; per arm (``head``, ``level0``) ``<arm>/unit_job_s`` and ``<arm>/unit_job_cpu_s``
(the job's wall and CPU seconds), ``<arm>/per_run_in_job_s``, ``<arm>/run_s`` and ``<arm>/run_cpu_s`` (training
seconds per run in the job, wall and CPU), ``<arm>/load_s`` (one fold load), ``<arm>/epochs``,
``<arm>/run_over_import_torch``; ``level0/run_over_head`` and ``level0/run_cpu_over_head`` (the target: at most
``target_ratio``), ``level0/per_run_in_job_over_head``, ``level0/job_cpu_over_head``; ``runs_per_job``,
``train_faces``, ``val_faces``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import record
from benchmarks.micro import head_runs

PRESET = record.REPO_ROOT / "workflow" / "presets" / "lfw_emotion_finetune.yaml"
LEVEL = "level0"
ARMS = ("head", LEVEL)
TARGET = 2.0  # the regime's cost target: a level0 run at most this many head runs


def arm_configs(preset: Path, epochs: int | None, methods: list[str] | None, patience: int | None) -> dict:
    """The fine-tune config (the preset with the overrides) and the head config on the same budget."""
    overrides = {key: value for key, value in {"epochs": epochs, "run_methods": methods}.items() if value}
    finetune = head_runs.study_config(preset, overrides)
    if finetune["training"]["backbone"] != "dlib_resnet" or finetune["training"]["finetune"] != LEVEL:
        raise SystemExit(f"{preset} does not fine-tune dlib_resnet at {LEVEL}: no level0 run to measure")
    training = {"patience": patience or finetune["epochs"]}
    finetune = head_runs.study_config(preset, {**overrides, "training": training})
    head = head_runs.study_config(
        preset, {**overrides, "training": {**training, "backbone": "head", "features": "dlib"}}
    )
    return {"head": head, LEVEL: finetune}


def synthetic_activations(folder: Path, config: dict, people: int, images: int) -> None:
    """Next to head_runs' synthetic manifest and folds: the level0 activation cache of blank chips, and dlib's
    descriptors of those activations (what the head arm reads)."""
    import numpy as np
    import pandas as pd
    import torch

    from emoverify.data.integrity import file_sha1
    from emoverify.features.chips import Chips, save_chips
    from emoverify.features.dlib_activations import Activations, save_activations
    from emoverify.features.store import Features, save_features
    from emoverify.layout import Layout
    from emoverify.model.dlib_resnet import LEVEL_INPUT_SHAPES, DlibResNet, default_network_file

    head_runs.synthetic_experiment(folder, config, people, images)
    layout = Layout(folder.name, str(folder.parent))
    ids = pd.read_csv(layout.manifest)["image_id"].to_numpy(dtype=str)
    save_chips(layout.chips("dlib"), Chips(ids, np.zeros((len(ids), 3, 150, 150), np.uint8), ids[:0], ids[:0]))
    rng = np.random.default_rng(1)
    shape = LEVEL_INPUT_SHAPES[LEVEL]
    centres = np.repeat(rng.normal(size=(people, *shape)), images, axis=0)
    rows = [np.maximum(centres + 0.6 * rng.normal(size=centres.shape), 0).astype(np.float32) for _ in range(2)]
    weights = default_network_file()
    cache = Activations(ids, *rows, LEVEL, file_sha1(layout.chips("dlib")), weights.name, file_sha1(weights))
    save_activations(layout.dlib_activations(LEVEL), cache)
    with torch.no_grad():
        top = DlibResNet.from_dat(weights).eval().trainable_part(LEVEL)
        descriptors = torch.cat([top(block) for block in torch.from_numpy(rows[0]).split(256)]).numpy()
    save_features(layout.features("dlib"), Features(ids, descriptors, "dlib"))


def timed_job(experiment: Path, config_path: Path, out: Path) -> tuple[float, float, dict]:
    """Wall and CPU seconds (user and system) of one unit job in a fresh process, and what it printed."""
    out.mkdir()
    command = [sys.executable, "-m", __spec__.name, "--unit-job", str(experiment), str(config_path), str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, stdout = head_runs.timed(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, json.loads(stdout.strip().splitlines()[-1])


def arm_figures(arm: str, jobs: list[tuple[float, float]], records: list[dict], import_torch: float) -> dict:
    runs = records[0]["runs"]
    training = [(sum(r["run_seconds"]) - sum(r["load_seconds"])) / r["runs"] for r in records]
    training_cpu = [(r["cpu_seconds"] - sum(r["load_cpu_seconds"])) / r["runs"] for r in records]
    job = statistics.median(wall for wall, _ in jobs)
    run = statistics.median(training)
    return {
        f"{arm}/run_cpu_s": statistics.median(training_cpu),
        f"{arm}/unit_job_s": job,
        f"{arm}/unit_job_cpu_s": statistics.median(cpu for _, cpu in jobs),
        f"{arm}/per_run_in_job_s": job / runs,
        f"{arm}/run_s": run,
        f"{arm}/load_s": statistics.median(s for r in records for s in r["load_seconds"]),
        f"{arm}/epochs": statistics.mean(e for r in records for e in r["epochs"]),
        f"{arm}/run_over_import_torch": run / import_torch,
    }


def report(figures: dict) -> list[str]:
    lines = [
        f"{figures['runs_per_job']} runs per fold unit job, {figures['train_faces']} training and "
        f"{figures['val_faces']} validation faces",
        f"{'arm':<8}{'job s':>9}{'s/run in job':>14}{'training s/run':>16}{'load s':>8}{'epochs':>8}",
    ]
    for arm in ARMS:
        lines.append(
            f"{arm:<8}{figures[f'{arm}/unit_job_s']:>9.2f}{figures[f'{arm}/per_run_in_job_s']:>14.2f}"
            f"{figures[f'{arm}/run_s']:>16.2f}{figures[f'{arm}/load_s']:>8.2f}{figures[f'{arm}/epochs']:>8.1f}"
        )
    lines.append(f"bare import torch: {figures['import_torch_s']:.2f} s (fresh process)")
    lines.append(
        f"a {LEVEL} run / a head run: {figures[f'{LEVEL}/run_over_head']:.2f} in wall seconds, "
        f"{figures[f'{LEVEL}/run_cpu_over_head']:.2f} in CPU seconds (target <= {TARGET}); "
        f"per run in the job, start-up and loading included: {figures[f'{LEVEL}/per_run_in_job_over_head']:.2f} "
        f"(the jobs' CPU seconds: {figures[f'{LEVEL}/job_cpu_over_head']:.2f})"
    )
    return lines


def main(argv=None) -> dict:
    parser = record.parser(__doc__)
    parser.add_argument("--preset", type=Path, default=PRESET)
    parser.add_argument("--people", type=int, default=448)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--methods", nargs="+", default=["tl", "tl_pdp"], help="the run_methods of the fold unit")
    parser.add_argument("--patience", type=int, help="early stopping's patience (default: the epochs, no stop)")
    parser.add_argument("--unit-job", nargs=3, metavar=("EXPERIMENT", "CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not head_runs.uses_this_checkout():  # measure this checkout's library, not an installed one
        os.execve(sys.executable, [sys.executable, "-m", __spec__.name, *sys.argv[1:]], head_runs.LIBRARY)
    if args.unit_job:
        head_runs.unit_job(*map(Path, args.unit_job))
        return {}
    configs = arm_configs(args.preset, args.epochs, args.methods, args.patience)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        experiment = scratch / "experiment"
        synthetic_activations(experiment, configs[LEVEL], args.people, args.images)
        paths = {arm: scratch / f"{arm}.json" for arm in ARMS}
        for arm, config in configs.items():
            paths[arm].write_text(json.dumps(config))
        imports, jobs, records = [], {arm: [] for arm in ARMS}, {arm: [] for arm in ARMS}
        for repeat in range(args.repeats):  # interleaved, so a change of load hits every figure alike
            imports.append(head_runs.timed([sys.executable, "-c", "import torch"])[0])
            for arm in ARMS:
                wall, cpu, made = timed_job(experiment, paths[arm], scratch / f"{arm}{repeat}")
                jobs[arm].append((wall, cpu))
                records[arm].append(made)
    import_torch = statistics.median(imports)
    figures = {"import_torch_s": import_torch, "target_ratio": TARGET}
    for arm in ARMS:
        figures.update(arm_figures(arm, jobs[arm], records[arm], import_torch))
    figures[f"{LEVEL}/run_over_head"] = figures[f"{LEVEL}/run_s"] / figures["head/run_s"]
    figures[f"{LEVEL}/run_cpu_over_head"] = figures[f"{LEVEL}/run_cpu_s"] / figures["head/run_cpu_s"]
    figures[f"{LEVEL}/job_cpu_over_head"] = figures[f"{LEVEL}/unit_job_cpu_s"] / figures["head/unit_job_cpu_s"]
    figures[f"{LEVEL}/per_run_in_job_over_head"] = (
        figures[f"{LEVEL}/per_run_in_job_s"] / figures["head/per_run_in_job_s"]
    )
    first = records[LEVEL][0]
    figures.update({"runs_per_job": first["runs"], "train_faces": first["train"], "val_faces": first["val"]})
    print("\n".join(report(figures)))
    return record.save(args, __spec__.name, figures, __doc__, argv)


if __name__ == "__main__":
    main()
