"""The config schema file is plain JSON Schema whose enums are the registry's names: written by
`python -m emoverify.schema`, read as they are by Snakemake's validate, and kept equal to the registry here."""

import copy
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from emoverify import losses, registry, schema, study
from emoverify.losses.base import ExpressionLoss

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_TEXT = schema.SCHEMA_PATH.read_text()
LOADED = schema.load_schema()["properties"]
METHOD = ("methods", "additionalProperties", "properties")


def node(tree, *path):
    for key in path:
        tree = tree[key]
    return tree


def test_the_schema_files_enums_equal_the_registry():
    """Fails after a loss module (or any registry name) is added until `python -m emoverify.schema` runs."""
    assert schema.enum_differences() == [], "run `python -m emoverify.schema` (from workflow/) to rewrite them"
    assert schema.with_registry_enums(SCHEMA_TEXT) == SCHEMA_TEXT


@pytest.mark.parametrize(
    ("path", "names"),
    [
        (("dataset",), registry.DATASET_ADAPTERS),
        (("device",), registry.DEVICES),
        (("faces", "properties", "detector"), registry.FACE_DETECTORS),
        (("faces", "properties", "multiple"), registry.FACE_POLICIES),
        (("labels", "properties", "shuffle_source"), registry.OWN_LABEL_SOURCES),
        (("label_sources", "items"), registry.EXPRESSION_LABEL_SOURCES),
        (("references", "items"), registry.REFERENCES),
        (("training", "properties", "backbone"), registry.BACKBONES),
        (("training", "properties", "finetune"), registry.FINETUNE_LEVELS),
        (("training", "properties", "features"), registry.FEATURE_EXTRACTORS),
        (("training", "properties", "pretrained"), registry.PRETRAINED_WEIGHTS),
        (("training", "properties", "optimizer"), registry.OPTIMIZERS),
        (("training", "properties", "mining"), registry.MINING_MODES),
        (("training", "properties", "sampler"), registry.BATCH_SAMPLERS),
        (("training", "properties", "sampler_labels"), registry.OWN_LABEL_SOURCES),
        ((*METHOD, "primary"), registry.primary_losses()),
        ((*METHOD, "geometry"), registry.GEOMETRIES),
        ((*METHOD, "aux", "propertyNames"), registry.expression_losses()),
    ],
    ids=lambda value: (
        "/".join(key for key in value if key not in ("properties", "additionalProperties"))
        if isinstance(value[0], str) and "properties" in value or value[0] == "dataset"
        else None
    ),
)
def test_each_setting_allows_exactly_its_registry_names(path, names):
    assert node(LOADED, *path)["enum"] == list(names)


def test_the_file_holds_enums_and_local_references_only():
    raw = yaml.safe_load(SCHEMA_TEXT)
    assert node(raw, "properties", "training", "properties", "mining") == {
        "$ref": "#/$defs/mining_modes",
        "default": "all",
    }
    assert raw["$defs"]["mining_modes"] == {"type": "string", "enum": list(registry.MINING_MODES)}
    Draft202012Validator.check_schema(raw)
    assert "names:" not in SCHEMA_TEXT and "properties_per_name" not in SCHEMA_TEXT


def enums_outside_defs(tree, where="") -> list[str]:
    if isinstance(tree, list):
        return [found for index, item in enumerate(tree) for found in enums_outside_defs(item, f"{where}[{index}]")]
    if not isinstance(tree, dict):
        return []
    found = [where] if "enum" in tree else []
    return found + [
        inner for key, item in tree.items() if key != "$defs" for inner in enums_outside_defs(item, f"{where}/{key}")
    ]


def test_every_list_of_allowed_values_is_a_generated_enum_and_each_is_used():
    """A key's allowed values go into the registry and reach the file as a $ref, never as a list of their own."""
    raw = yaml.safe_load(SCHEMA_TEXT)
    assert enums_outside_defs(raw) == []
    assert enums_outside_defs({"x": {"enum": ["a"]}, "$defs": {"y": {"enum": ["b"]}}}) == ["/x"]
    unused = [name for name in schema.registry_enums() if f'"#/$defs/{name}"' not in SCHEMA_TEXT]
    assert unused == []


def test_a_method_grid_takes_every_expression_loss_and_the_training_knobs():
    grid = node(LOADED, *METHOD, "grid")
    assert set(grid["propertyNames"]["enum"]) == {
        *registry.expression_losses(),
        "expression_weight",
        "margin",
        "arcface_margin",
        "fbv_scale",
        "learning_rate",
    }
    assert grid["additionalProperties"]["items"] == {"type": "number", "minimum": 0}


class Spread(ExpressionLoss):
    name = "spread"


@pytest.fixture
def spread():
    losses.register(Spread)
    yield Spread
    registry.remove_loss(registry.EXPRESSION, Spread.name)


def test_a_loss_the_file_does_not_name_is_a_difference_until_the_enums_are_rewritten(spread, tmp_path):
    differences = schema.enum_differences()
    assert [line.split(":")[0] for line in differences] == ["$defs.expression_losses", "$defs.grid_keys"]
    assert "'spread'" in differences[0]
    rewritten = tmp_path / "config.schema.yaml"
    rewritten.write_text(SCHEMA_TEXT)
    schema.main(rewritten)
    assert schema.enum_differences(rewritten) == []
    assert "spread" in node(schema.load_schema(rewritten)["properties"], *METHOD, "aux", "propertyNames")["enum"]


def test_the_generated_lines_replace_only_what_follows_their_comment():
    stale = SCHEMA_TEXT.replace("mining_modes: {type: string, enum: [all, ", "mining_modes: {type: string, enum: [")
    assert stale != SCHEMA_TEXT and schema.with_registry_enums(stale) == SCHEMA_TEXT
    with pytest.raises(ValueError, match="lacks the line"):
        schema.with_registry_enums(SCHEMA_TEXT.replace(schema.GENERATED, "  # edited"))


def test_a_reference_to_no_definition_is_an_error(tmp_path):
    (tmp_path / "schema.yaml").write_text('type: object\nproperties:\n  x: {$ref: "#/$defs/nothing"}\n')
    with pytest.raises(ValueError, match="#/\\$defs/nothing"):
        schema.load_schema(tmp_path / "schema.yaml")


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_snakemakes_validate_fills_the_defaults_and_no_two_methods_share_them(config):
    schema.fill_defaults(config)
    assert config["training"]["arcface_scale"] == 30.0 and config["faces"]["detector"] == "mtcnn"
    without_aux = [spec for spec in config["methods"].values() if spec["aux"] == {}]
    assert len(without_aux) >= 2 and without_aux[0]["aux"] is not without_aux[1]["aux"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"faces": {"detector": "mtcn"}}, "config key faces.detector: 'mtcn' is not one of ['mtcnn', 'none']"),
        ({"training": {"mining": "hard"}}, "config key training.mining: 'hard' is not one of ['all', 'batch_hard',"),
        ({"label_sources": ["manual", "shufled"]}, "config key label_sources.1: 'shufled' is not one of ['manual',"),
        ({"methods": {"tl_pdp": {"aux": {"pdq": 0.1}}}}, "unknown config key 'methods.tl_pdp.aux.pdq'; did you mean"),
        ({"methods": {"tl_pdp": {"aux": {"xyz": 0.1}}}}, "'methods.tl_pdp.aux.xyz'; valid keys here: pdm, pdp, fbv,"),
        ({"methods": {"tl": {"grid": {"marg": [0.1]}}}}, "unknown config key 'methods.tl.grid.marg'; did you mean"),
    ],
)
def test_a_typo_names_the_key_and_what_it_may_be(config, change, message):
    changed = copy.deepcopy(config)
    for key, value in change.items():
        if key == "methods":
            for method, spec in value.items():
                changed["methods"][method].update(spec)
        else:
            changed[key] = value
    with pytest.raises(study.ConfigError) as error:
        study.check_schema(changed, schema.load_schema())
    assert message in str(error.value)
    assert len(str(error.value).splitlines()) <= 3
