"""Running the workflow from tests: Snakemake in a subprocess, dry-run job counts, study configs."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
DEFAULT_CONFIG = str(ROOT / "config.yaml")  # config.yaml is found relative to the working directory
# A tiny demo study: 8 drawn people, 2 folds, 1 epoch of 3 batches (end-to-end tests, local and SLURM).
TINY = {
    "experiment": "tiny",
    "dataset": "demo",
    "demo": {"n_identities": 8, "images_per_expression": 1, "image_size": 128, "seed": 1},
    "folds": 2,
    "seeds": [0],
    "epochs": 1,
    "val_fraction": 0.34,
    "run_methods": ["tl", "tl_pdp"],
    "label_sources": ["manual", "detected"],
    "training": {
        "width": 8,
        "embedding_dim": 16,
        "input_size": 32,
        "batch_identities": 3,
        "images_per_identity": 4,
        "batches_per_epoch": 3,
    },
    "evaluation": {"rank1_draws": 2},
}


def snakemake(workdir: Path, *args: str, config: Path | None = None, check: bool = True, **kwargs):
    command = SNAKEMAKE + [
        "--directory",
        str(workdir),
        "--configfile",
        DEFAULT_CONFIG,
        str(config or workdir / "study.yaml"),
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def planned_jobs(workdir: Path, *args: str, config: Path | None = None) -> dict[str, int]:
    """Job counts of a dry run, by rule."""
    output = snakemake(workdir, "--dry-run", "--rerun-incomplete", *args, config=config)
    text = output.stdout + output.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def write_study_config(path: Path, base: dict, **changes) -> Path:
    """``base`` with top-level keys replaced by ``changes``, written as YAML."""
    config = yaml.safe_load(yaml.safe_dump(base))
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def finished_study(workdir: Path, base: dict) -> Path:
    """``base`` written as the folder's study.yaml and run to the end on 2 cores."""
    write_study_config(workdir / "study.yaml", base)
    snakemake(workdir, "--cores", "2")
    return workdir


def copy_first_people(source: Path, target: Path, people: int):
    """The first ``people`` identities (by name) of a csv dataset (``labels.csv`` with a ``path`` column under
    ``source``) copied with their images into ``target``; returns the new labels.csv and its rows."""
    import shutil

    import pandas as pd

    table = pd.read_csv(source / "labels.csv")
    chosen = table[table["identity"].isin(sorted(table["identity"].unique())[:people])]
    for path in chosen["path"]:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / path, target / path)
    chosen.to_csv(target / "labels.csv", index=False)
    return target / "labels.csv", chosen


def preset_study(workdir: Path, preset: str, data_root, changes: dict) -> dict:
    """A preset of workflow/presets with ``changes`` laid over it, one level deep, and ``data_root``, written as
    the study.yaml of ``workdir``; returns that config."""
    config = yaml.safe_load((ROOT / "workflow" / "presets" / f"{preset}.yaml").read_text())
    for key, value in changes.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    config["data_root"] = str(data_root)
    (workdir / "study.yaml").write_text(yaml.safe_dump(config))
    return config
