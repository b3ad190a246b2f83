"""What one head run costs in a batched training job (``batch_heads``), against a bare ``import torch``.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.head_runs [--preset workflow/presets/lfw_emotion_pretrained.yaml]
        [--experiment results/<experiment>] [--people 300 --images 6] [--repeats 3] [--json PATH | --record]

Both figures are measured in the same run, back to back, each as the median of ``--repeats``:

- a bare ``python -c "import torch"`` in a fresh process (wall seconds);
- one fold unit's training job as the training rule runs it (``workflow/scripts/train_heads.py``'s calls: the
  fold loaded with ``fold_data.load_rule_fold`` per label source, then ``training.jobs.train_unit`` over every
  member of the preset's fold unit), in a fresh process, start to exit; its wall seconds over its head runs are
  the training stage's cost per head run.

The fold comes from ``--experiment`` (a finished faces, features and splits stage: faces/manifest.csv,
splits/folds.csv, features/<features>.npz) or, by default, from synthetic descriptors of ``--people`` people
with ``--images`` images each, split by the library's fold maker; the study settings (members, recipe, epochs)
from ``--preset`` laid over config.yaml. The machine's load moves both figures; read their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import record

ROOT = record.REPO_ROOT
LIBRARY = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "workflow"), os.environ.get("PYTHONPATH")])),
}
PRESET = ROOT / "workflow" / "presets" / "lfw_emotion_pretrained.yaml"
TARGET = 0.5  # the training stage's cost per head run, at most this share of a bare import torch


def study_config(preset: Path, overrides: dict) -> dict:
    """config.yaml with the preset (then ``overrides``) laid over it one level deep, defaults filled in."""
    import yaml

    from emoverify import study
    from emoverify.schema import fill_defaults, load_schema

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for layer in (yaml.safe_load(preset.read_text()), overrides):
        for key, value in layer.items():
            config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    study.check_schema(config, load_schema())  # as the workflow: its messages first, then the defaults
    fill_defaults(config)
    return config


def synthetic_experiment(folder: Path, config: dict, people: int, images: int) -> Path:
    """faces/manifest.csv, splits/folds.csv and the head's features file of synthetic people: descriptors
    scattered around one centre per person, two expressions with a few rare ones."""
    import numpy as np
    import pandas as pd

    from emoverify.features.store import Features, save_features
    from emoverify.model.networks import FEATURE_SIZES
    from emoverify.splits.folds import make_repeated_folds

    rng = np.random.default_rng(0)
    extractor = config["training"]["features"]
    size = FEATURE_SIZES[extractor]
    identity = np.repeat([f"p{p:04d}" for p in range(people)], images)
    ids = [f"{person}_{k}" for person, k in zip(identity, np.tile(np.arange(images), people))]
    emotions = rng.choice(["neutral", "happiness", "surprise", "anger"], size=len(ids), p=[0.5, 0.4, 0.06, 0.04])
    manifest = pd.DataFrame(
        {"image_id": ids, "identity": identity, "status": "ok", "emotion_manual": emotions, "session": ""}
    )
    vectors = np.repeat(rng.normal(size=(people, size)), images, axis=0) + 0.8 * rng.normal(size=(len(ids), size))
    for sub in ("faces", "splits", "features"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    manifest.to_csv(folder / "faces" / "manifest.csv", index=False)
    folds = make_repeated_folds(
        manifest, n_folds=config["folds"], repeats=1, seed=0, val_fraction=config["val_fraction"]
    )
    folds.to_csv(folder / "splits" / "folds.csv", index=False)
    save_features(
        folder / "features" / f"{extractor}.npz", Features(np.array(ids), vectors.astype(np.float32), extractor)
    )
    return folder


class RuleInputs(dict):
    """A rule's named inputs as the scripts see them (attributes and ``get``)."""

    __getattr__ = dict.__getitem__


def unit_job(experiment: Path, config_path: Path, out: Path) -> None:
    """The training rule's work for fold unit (0, 0), in this (fresh) process: what train_heads.py runs."""
    from types import SimpleNamespace

    import pandas as pd
    import torch

    from emoverify import study
    from emoverify.model.device import keep_freed_memory, use_threads
    from emoverify.splits import fold_data
    from emoverify.training import jobs

    config = json.loads(config_path.read_text())
    use_threads(config["training"]["threads"])
    keep_freed_memory()  # as the training rule's script
    inputs = rule_inputs(experiment, config)
    readable = {"manual", "detected"} if "detected" in inputs else {"manual"}  # synthetic faces: no fer labels
    members = [
        m for m in study.unit_job_runs(config) if study.label_sources_read(config, m["label_source"]) <= readable
    ]
    unit = SimpleNamespace(repeat=0, fold=0)
    paths = [(str(out / f"model{i}.pt"), str(out / f"history{i}.csv")) for i in range(len(members))]
    loading, loading_cpu, sizes = [], [], {}  # wall and CPU seconds of each fold load, faces per split

    def load_faces(label_params, size):
        started, cpu = time.perf_counter(), time.process_time()
        faces = fold_data.load_rule_fold(inputs, unit, size, label_params, ("train", "val"))
        loading.append(time.perf_counter() - started)
        loading_cpu.append(time.process_time() - cpu)
        sizes.update({split: len(faces[split]) for split in faces})
        return faces

    cpu = time.process_time()

    seconds = jobs.train_unit(
        load_faces,
        members,
        jobs.run_outputs([model for model, _ in paths], [history for _, history in paths]),
        repeat=0,
        fold=0,
        job=jobs.JobSettings(config["epochs"], torch.device("cpu"), open("/dev/null", "w")),
        dataset_expressions=fold_data.dataset_expressions(inputs["manifest"]),
    )
    cpu = time.process_time() - cpu
    epochs = [int((pd.read_csv(h)["epoch"] > 0).sum()) for _, h in paths if Path(h).stat().st_size]
    timings = {"run_seconds": seconds, "cpu_seconds": cpu, "load_seconds": loading, "load_cpu_seconds": loading_cpu}
    print(json.dumps({"runs": len(members), "epochs": epochs, **timings, **sizes}))


def rule_inputs(experiment: Path, config: dict) -> RuleInputs:
    """The training rule's inputs of the experiment for the config's backbone: the manifest, the folds, the
    detected labels where they exist, and the head's descriptors or the fine-tuned dlib network's chips and
    activation cache (``common.smk``'s head_inputs and dlib_inputs)."""
    from emoverify import study
    from emoverify.layout import Layout

    layout = Layout(experiment.name, str(experiment.parent))
    inputs = RuleInputs({"manifest": layout.manifest, "folds": layout.folds})
    if Path(layout.detected).is_file():
        inputs["detected"] = layout.detected
    extractor, level = study.head_features(config), study.finetune_level(config)
    if extractor is not None:
        inputs["head_features"] = layout.features(extractor)
    if level is not None:
        inputs["dlib_chips"] = layout.chips("dlib")
        if level != "all":
            inputs["dlib_activations"] = layout.dlib_activations(level)
    return inputs


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=LIBRARY)
    if done.returncode:
        sys.exit(f"{' '.join(command[:4])} ... failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return time.perf_counter() - started, done.stdout


def uses_this_checkout() -> bool:
    import emoverify

    return Path(emoverify.__file__).resolve().parents[1] == ROOT / "workflow"


def main(argv=None) -> dict:
    parser = record.parser(__doc__)
    parser.add_argument("--preset", type=Path, default=PRESET)
    parser.add_argument("--experiment", type=Path, help="a results/<experiment> folder with faces, features, splits")
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (a tiny run)")
    parser.add_argument("--methods", nargs="+", help="override the preset's run_methods (a tiny run)")
    parser.add_argument("--unit-job", nargs=3, metavar=("EXPERIMENT", "CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not uses_this_checkout():  # measure this checkout's library, not an installed one
        os.execve(sys.executable, [sys.executable, "-m", __spec__.name, *sys.argv[1:]], LIBRARY)
    if args.unit_job:
        unit_job(*map(Path, args.unit_job))
        return {}
    overrides = {key: value for key, value in {"epochs": args.epochs, "run_methods": args.methods}.items() if value}
    config = study_config(args.preset, overrides)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        experiment = args.experiment or synthetic_experiment(scratch / "experiment", config, args.people, args.images)
        config_path = scratch / "config.json"
        config_path.write_text(json.dumps(config))
        imports, jobs, records = [], [], []
        for repeat in range(args.repeats):  # interleaved, so a change of load hits both figures alike
            imports.append(timed([sys.executable, "-c", "import torch"])[0])
            out = scratch / f"job{repeat}"
            out.mkdir()
            command = [sys.executable, "-m", __spec__.name, "--unit-job"]
            seconds, stdout = timed([*command, str(experiment), str(config_path), str(out)])
            jobs.append(seconds)
            records.append(json.loads(stdout.strip().splitlines()[-1]))
    runs = records[0]["runs"]
    import_torch, job = statistics.median(imports), statistics.median(jobs)
    per_run = job / runs
    figures = {
        "import_torch_s": import_torch,
        "unit_job_s": job,
        "head_runs_per_job": runs,
        "per_head_run_s": per_run,
        "per_head_run_over_import_torch": per_run / import_torch,
        "target_ratio": TARGET,
        "training_per_run_in_process_s": statistics.median(s for r in records for s in r["run_seconds"]),
        "mean_epochs_run": statistics.mean(e for r in records[:1] for e in r["epochs"]),
    }
    print(f"bare import torch: {import_torch:.2f} s (median of {args.repeats}, fresh process)")
    print(f"one fold unit's training job: {job:.2f} s for {runs} head runs = {per_run:.3f} s per head run")
    print(f"per head run / import torch: {per_run / import_torch:.3f} (target <= {TARGET})")
    return record.save(args, __spec__.name, figures, __doc__, argv)


if __name__ == "__main__":
    main()
