"""The registry is the one list of names: the schema's enums and the rules' wildcard constraints equal it."""

import re
from pathlib import Path

import pytest
import yaml

from emoverify import losses, registry
from emoverify.faces import detect
from emoverify.layout import METHOD_WILDCARD
from emoverify.model import networks
from emoverify.training import objective

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())["properties"]
COMMON = (ROOT / "workflow" / "rules" / "common.smk").read_text()


def enum(*path):
    node = SCHEMA
    for key in path:
        node = node[key]
    return tuple(node["enum"])


@pytest.mark.parametrize(
    ("schema_path", "names"),
    [
        (("dataset",), registry.DATASET_ADAPTERS),
        (("device",), registry.DEVICES),
        (("faces", "properties", "detector"), registry.FACE_DETECTORS),
        (("faces", "properties", "multiple"), registry.FACE_POLICIES),
        (("label_sources", "items"), registry.EXPRESSION_LABEL_SOURCES),
        (("references", "items"), registry.REFERENCES),
        (("training", "properties", "backbone"), registry.BACKBONES),
        (("training", "properties", "pretrained"), registry.PRETRAINED_WEIGHTS),
        (("training", "properties", "optimizer"), registry.OPTIMIZERS),
        (("training", "properties", "mining"), registry.MINING_MODES),
        (("methods", "additionalProperties", "properties", "primary"), registry.PRIMARY_LOSSES),
        (("methods", "additionalProperties", "properties", "geometry"), registry.GEOMETRIES),
    ],
    ids=lambda value: "/".join(value) if isinstance(value[0], str) and "properties" in value else None,
)
def test_schema_enums_equal_the_registry(schema_path, names):
    assert set(enum(*schema_path)) == set(names)


def test_schema_expression_losses_equal_the_registry():
    aux = SCHEMA["methods"]["additionalProperties"]["properties"]["aux"]["properties"]
    assert set(aux) == set(registry.EXPRESSION_LOSSES)


def wildcard_constraints() -> dict[str, str]:
    """The rules' wildcard constraints, evaluated as Snakemake evaluates them."""
    block = COMMON.split("wildcard_constraints:")[1].split("\n\n")[0]
    pairs = re.findall(r"^\s+(\w+)=(.+),\s*$", block, flags=re.M)
    names = {"registry": registry, "METHOD_WILDCARD": METHOD_WILDCARD}
    return {name: eval(expression, names) for name, expression in pairs}


def test_wildcard_constraints_accept_exactly_the_registry_names():
    constraints = wildcard_constraints()
    for wildcard, names in (("labels", registry.LABEL_SOURCES), ("reference", registry.REFERENCES)):
        for name in names:
            assert re.fullmatch(constraints[wildcard], name)
        assert not re.fullmatch(constraints[wildcard], "other")
        assert set(constraints[wildcard].split("|")) == set(names)


def test_library_modules_use_the_registry_lists():
    assert objective.AUXILIARY_LOSSES == registry.EXPRESSION_LOSSES
    assert losses.TRIPLET_MINING == registry.MINING_MODES
    assert detect.DETECTORS == registry.FACE_DETECTORS
    assert networks.BACKBONES is registry.BACKBONES


@pytest.mark.parametrize(
    ("aux", "expected"), [({}, False), ({"pdp": 0.0}, False), ({"pdp": 0.1}, True), ({"pdp": 0.0, "ce": 0.2}, True)]
)
def test_one_rule_for_needing_expression_labels(aux, expected):
    """The plan and the objective agree, weight 0 included (it is no term at all)."""
    assert registry.needs_expressions({"aux": aux}) is expected
    combined = objective.CombinedObjective("triplet", aux, embedding_dim=8, n_identities=3, n_expressions=8)
    assert combined.needs_expressions is expected


def test_a_zero_weight_builds_the_baseline_objective():
    baseline = objective.CombinedObjective("triplet", {}, embedding_dim=8, n_identities=3, n_expressions=8)
    zero = objective.CombinedObjective(
        "triplet", {"ce": 0.0, "mtl": 0.0}, embedding_dim=8, n_identities=3, n_expressions=8
    )
    assert zero.weights == baseline.weights == {}
    assert not list(zero.parameters())
