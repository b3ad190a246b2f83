"""Running the workflow from tests: Snakemake in a subprocess, dry-run job counts (in this process), study
configs."""

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from snakemake.api import SnakemakeApi
from snakemake.logging import logger as snakemake_logger
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings
from snakemake_interface_logger_plugins.common import LogEvent

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
# A tiny JAFFE study (one image per expression of six people, MTCNN on real faces); the data changes test
# reuses its settings on a csv of JAFFE copies.
TINY_JAFFE = {
    "experiment": "tiny_jaffe",
    "dataset": "jaffe",
    "faces": {"detector": "mtcnn", "size": 96},
    "folds": 2,
    "seeds": [0],
    "epochs": 1,
    "val_fraction": 0.34,
    "run_methods": ["tl", "tl_pdp"],
    "label_sources": ["manual"],
    "training": {
        "width": 8,
        "embedding_dim": 16,
        "input_size": 32,
        "batch_identities": 2,
        "images_per_identity": 4,
        "batches_per_epoch": 3,
    },
    "evaluation": {"rank1_draws": 2},
}
# The upstream stages of the tiny study (dataset and its manual labels' check, faces, expression labels, dlib's
# descriptors, folds, the pixel cache at its input size): what the end-to-end tests share, built once per session.
UPSTREAM_TARGETS = (
    "faces",
    "labels",
    "features",
    "splits",
    "results/tiny/faces/pixels_32.npy",
    "results/tiny/dataset/manual_labels.ok",
)


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


class _JobStats(logging.Handler):
    """Keeps the job counts Snakemake logs once it has planned (its `Job stats` table, as a dict)."""

    def __init__(self):
        super().__init__()
        self.counts: dict[str, int] = {}

    def emit(self, record):
        if getattr(record, "event", None) == LogEvent.RUN_INFO:
            self.counts = {rule: count for rule, count in record.stats.items() if rule != "total"}


def planned_jobs(workdir: Path, *targets: str, config: Path | None = None) -> dict[str, int]:
    """Job counts of a dry run (`snakemake -n --rerun-incomplete`), by rule, planned in this process.

    Snakemake's own API parses the Snakefile and builds the DAG as its command line does, with the same rerun
    triggers (rule parameters, code, inputs, file times); only the start of a Python process with Snakemake,
    the library and their imports (most of a command-line dry run's time) is left out. `planned_jobs_cli`
    asks the command line itself."""
    counts = _JobStats()
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL}, enable_file_logging=False)) as api:
        snakemake_logger.addHandler(counts)
        try:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(
                    configfiles=[Path(DEFAULT_CONFIG), Path(config or Path(workdir) / "study.yaml").absolute()]
                ),
                snakefile=ROOT / "Snakefile",
                workdir=Path(workdir),
            )
            workflow.dag(DAGSettings(targets=frozenset(targets), force_incomplete=True)).execute_workflow(
                executor="dryrun"
            )
        finally:
            snakemake_logger.removeHandler(counts)
    return counts.counts


def planned_jobs_cli(workdir: Path, *args: str, config: Path | None = None) -> dict[str, int]:
    """Job counts of a dry run of Snakemake's command line in its own process, by rule."""
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


def copy_study(
    source: Path, target: Path, stages: tuple[str, ...] | None = None, experiment: str = "tiny", records: bool = True
) -> Path:
    """A study folder copied with its file times, Snakemake's records of its outputs and its study.yaml, so that
    Snakemake plans in the copy what it would in the original: every stage of ``experiment``, or ``stages``
    alone (folders under results/<experiment>/). Without the records (``records=False``) Snakemake judges the
    copied files by their times alone, as after copying the results folder by hand."""
    target.mkdir(parents=True, exist_ok=True)
    results = Path("results") / experiment
    parts = [results] if stages is None else [results / stage for stage in stages]
    for part in [*parts, *([Path(".snakemake") / "metadata"] if records else [])]:
        shutil.copytree(source / part, target / part, symlinks=True, dirs_exist_ok=True)
    shutil.copy2(source / "study.yaml", target / "study.yaml")
    return target


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
