import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# the installed package (make setup installs this checkout's, editable); rule scripts see it through _setup.py
from emoverify import configfiles, provenance, registry, runlock, scheduling, study
from emoverify.report import shown
from emoverify.layout import METHOD_WILDCARD, Layout, Run
from emoverify.schema import load_schema

# config files read strictly (a repeated key, two dataset presets stop); an overlay gets its own experiment
try:
    OVERLAID = configfiles.check(
        workflow.configfiles,
        Path(workflow.basedir) / "workflow" / "presets",
        dict(workflow.config_settings.config),
        config.get("experiment", ""),
    )
except configfiles.ConfigFileError as error:
    raise study.ConfigError(str(error)) from None
if OVERLAID != config.get("experiment"):
    if workflow.is_main_process:
        print(f"emoverify: the overlay writes to experiment {OVERLAID} (set experiment=... to choose)", file=sys.stderr)
    config["experiment"] = OVERLAID
# The config is checked here, once, and the library trusts it after: `--config` strings to the schema's types,
# then every schema violation in a few lines naming the key and its allowed values (Snakemake's own message
# prints the whole schema), Snakemake's validate filling in the defaults, and what no schema can say.
SCHEMA_FILE = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = load_schema(SCHEMA_FILE)
config.update(study.coerce_to_schema(dict(config), SCHEMA))
study.check_schema(config, SCHEMA)
validate(config, str(SCHEMA_FILE))
study.check_study(config)
# key order must not matter to rerun decisions (see study.canonical)
config.update(study.canonical(dict(config)))

LAYOUT = Layout(config["experiment"])
if workflow.is_main_process:  # a second run on a live experiment stops here, naming the live run's pid
    runlock.check_free(LAYOUT.run_holder, config["experiment"])
# the dataset, read now: the dataset rule reruns when this digest of its table changes (docs/troubleshooting.md)
DATA_DIGEST = study.data_digest(config, LAYOUT.content_hashes)
# stages built from an older dataset table than the one on disk rerun (a report of them stops): see provenance
STAGE_OUTPUTS = {
    "detect_align": LAYOUT.manifest,
    "make_splits": LAYOUT.folds,
    "aggregate": LAYOUT.table_file("summary.csv"),
}
if workflow.is_main_process:
    REPORTING = any(arg.startswith("--report") for arg in sys.argv)  # only a report is built: no job runs
    STALE_NOTE = provenance.plan_reruns(LAYOUT.table, STAGE_OUTPUTS, reporting=REPORTING)
    if STALE_NOTE:
        print(f"emoverify: {STALE_NOTE}", file=sys.stderr)
RUNS = study.planned_runs(config)
# the runs whose losses read expression labels: their training labels give the pair counts
LABELLED_RUNS = [run for run in RUNS if run.label_source != registry.NO_LABELS]
# this experiment first, then the finished experiments whose summaries go beside it (compare_with)
REGIME_EXPERIMENTS = [config["experiment"], *config["compare_with"]]
REFERENCE_RUNS = study.planned_references(config)
# tuning: the (method, label source, repeat, fold) units that each select one candidate (none when untuned)
SELECTIONS = study.planned_selections(config)


wildcard_constraints:
    method=METHOD_WILDCARD,
    label_source=registry.wildcard_pattern(registry.LABEL_SOURCES),
    repeat=r"\d+",
    fold=r"\d+",
    seed=r"-?\d+",
    reference=registry.wildcard_pattern(registry.REFERENCES),


# With batch_seeds one job holds every seed of a group; JOB_SEEDS names them (None: one run per job).
JOB_SEEDS = config["seeds"] if config["batch_seeds"] else None


def job_outputs(name, reference=False):
    return LAYOUT.job_outputs(name, JOB_SEEDS, reference)


# With batch_heads one job holds every head run of a fold unit; UNIT_RUNS says what each trains with.
BATCH_HEADS = config["batch_heads"]
UNIT_RUNS = study.unit_job_runs(config) if BATCH_HEADS else []


def unit_outputs(name):
    return LAYOUT.unit_outputs(name, study.unit_members(config))


def unit_label_inputs(wildcards):
    """The label files any run of a fold unit reads."""
    sources = {source for run in UNIT_RUNS for source in study.label_sources_read(config, run["label_source"])}
    inputs = {}
    if registry.DETECTED in sources:
        inputs["detected"] = LAYOUT.detected
    if registry.MANUAL in sources:
        inputs["manual_check"] = LAYOUT.manual_labels_check
    return inputs


def job_seeds(wildcards):
    """The seeds a train or evaluate job runs, in the order of its output lists."""
    return [int(wildcards.seed)] if JOB_SEEDS is None else list(JOB_SEEDS)


def method_spec(wildcards):
    return study.run_method_spec(config, wildcards.method)


def run_training(wildcards):
    return study.run_training_recipe(config, wildcards.method)


def candidate_histories(wildcards):
    """Per candidate of a method (input name = run name), the history of each of its seeds."""
    unit = {"label_source": wildcards.label_source, "fold": int(wildcards.fold), "repeat": int(wildcards.repeat)}
    return {
        name: [LAYOUT.run_file(Run(name, seed=seed, **unit), "history.csv") for seed in config["seeds"]]
        for name in study.trained_names(config, wildcards.method)
    }


def selection_files():
    return [LAYOUT.selection(**unit) for unit in SELECTIONS]


def label_inputs(wildcards):
    """The label files a run reads (its own source's and the batches'), so manual runs never wait for fer."""
    sources = study.label_sources_read(config, wildcards.label_source)
    inputs = {}
    if registry.DETECTED in sources:
        inputs["detected"] = LAYOUT.detected
    if registry.MANUAL in sources:
        inputs["manual_check"] = LAYOUT.manual_labels_check
    return inputs


def label_params(wildcards):
    return study.label_params(config, wildcards.label_source)


def truth_inputs(wildcards=None):
    """The true labels' file of the manipulation check, where they are the detected ones."""
    truth = study.true_label_params(config)["name"]
    return {"detected": LAYOUT.detected} if truth == registry.DETECTED else {}


def evaluate_label_inputs(wildcards):
    """The label files an evaluation reads: its run's and the manipulation check's."""
    return {**label_inputs(wildcards), **truth_inputs()}


def unit_evaluate_label_inputs(wildcards):
    """The label files the evaluation of a fold unit's head runs reads (batch_heads)."""
    return {**unit_label_inputs(wildcards), **truth_inputs()}


def reference_recipe(wildcards):
    return study.reference_recipe(config, wildcards.reference)


# dlib_resnet: the level it fine-tunes from (None for any other backbone), and the weight file it starts from
FINETUNE_LEVEL = study.finetune_level(config)
DLIB_WEIGHTS = study.dlib_weights_file(config) if FINETUNE_LEVEL else None
# the extractors rule extract_features serves (dlib's descriptors come with its chips for a dlib_resnet backbone)
PLAIN_EXTRACTORS = tuple(n for n in registry.FEATURE_EXTRACTORS if not (FINETUNE_LEVEL and n == "dlib"))


def dlib_inputs(wildcards=None):
    """A dlib_resnet backbone's input: the chips (all), or the cached activations at its level (checked against
    the chips), and the weight file its network starts from; nothing for another backbone."""
    if FINETUNE_LEVEL is None:
        return {}
    inputs = {"dlib_chips": LAYOUT.chips("dlib"), "dlib_weights": DLIB_WEIGHTS}
    if FINETUNE_LEVEL != "all":
        inputs["dlib_activations"] = LAYOUT.dlib_activations(FINETUNE_LEVEL)
    return inputs


def head_inputs(wildcards=None):
    """A head backbone's input: the cached descriptors it trains on (nothing for an image backbone)."""
    extractor = study.head_features(config)
    return {} if extractor is None else {"head_features": LAYOUT.features(extractor)}


def pixel_inputs(wildcards=None):
    """The experiment's faces decoded once at the input size (face_pixels), for a job that reads images."""
    size = config["training"]["input_size"]
    return {"pixels": LAYOUT.pixels(size), "pixels_record": LAYOUT.pixels_record(size)}


def run_inputs(wildcards):
    """What a training run and its evaluation read for each face: cached descriptors (a head backbone), dlib's
    chips or cached activations (dlib_resnet) or the pixel cache."""
    return head_inputs() or dlib_inputs() or pixel_inputs()


def reference_inputs(wildcards):
    """The cached descriptors are an input of the reference that scores them, and of the untrained head; the
    pixel cache of the pixel reference and of the untrained image network."""
    if wildcards.reference in registry.FEATURE_EXTRACTORS:
        return {"features": LAYOUT.features(wildcards.reference)}
    if wildcards.reference == "untrained":
        return run_inputs(wildcards)
    return pixel_inputs()


def demo_input(wildcards):
    return {"demo": LAYOUT.demo_images} if config["dataset"] == "demo" else {}


def run_files(name):
    return [LAYOUT.run_file(run, name) for run in RUNS]


def reference_files(name):
    return [LAYOUT.run_file(run, name) for run in REFERENCE_RUNS]
