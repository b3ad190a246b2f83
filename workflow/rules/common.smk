import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from emoverify import study  # noqa: E402

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
config.update(study.coerce_to_schema(dict(config), yaml.safe_load(SCHEMA.read_text())))
validate(config, str(SCHEMA))
study.check_study(config)
# key order must not matter to rerun decisions (see study.canonical)
config.update(study.canonical(dict(config)))

OUT = f"results/{config['experiment']}"
RUNS = study.planned_runs(config)
REFERENCE_RUNS = [
    study.Run(reference, study.NO_LABELS, fold, seed)
    for reference in config["references"]
    for fold in range(config["folds"])
    for seed in config["seeds"]
]


wildcard_constraints:
    method=r"[A-Za-z0-9_]+",
    labels=r"manual|detected|none",
    fold=r"\d+",
    seed=r"-?\d+",
    reference=r"pixels|untrained",


def method_spec(wildcards):
    return config["methods"][wildcards.method]


def label_inputs(wildcards):
    """Detected labels are an input only of runs that use them, so manual runs never wait for fer."""
    if wildcards.labels == "detected":
        return {"detected": f"{OUT}/labels/detected.csv"}
    if wildcards.labels == "manual":
        return {"manual_check": f"{OUT}/dataset/manual_labels.ok"}
    return {}


def label_params(wildcards):
    if wildcards.labels == "detected":
        return {"source": "detected", "confidence_threshold": config["labels"]["confidence_threshold"]}
    return {"source": wildcards.labels}


def demo_input(wildcards):
    return {"demo": f"{OUT}/dataset/demo_images"} if config["dataset"] == "demo" else {}


def run_files(name):
    return [f"{OUT}/{run.path}/{name}" for run in RUNS]


def reference_files(name):
    return [f"{OUT}/references/{r.method}/fold{r.fold}/seed{r.seed}/{name}" for r in REFERENCE_RUNS]
