"""The registry is the one list of names: the rules' wildcard constraints equal it, and the loss names are the loss
modules' own (tests/test_schema.py keeps the schema file's enums equal to it)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emoverify import losses, registry
from emoverify.layout import METHOD_WILDCARD
from emoverify.training import objective

ROOT = Path(__file__).resolve().parents[1]
COMMON = (ROOT / "workflow" / "rules" / "common.smk").read_text()


def test_loss_names_are_the_loss_modules_and_each_module_holds_its_class():
    folder = ROOT / "workflow" / "emoverify" / "losses"
    for kind in registry.LOSS_KINDS:
        modules = sorted(path.stem for path in (folder / kind).glob("*.py") if path.stem != "__init__")
        assert sorted(registry.loss_names(kind)) == modules
        for name in modules:
            cls = losses.loss_class(kind, name)
            assert cls.name == name and cls.__module__ == f"emoverify.losses.{kind}.{name}"
    assert registry.primary_losses() == ("triplet", "arcface", "arcface_geodesic")  # the paper's order
    assert registry.expression_losses() == ("pdm", "pdp", "fbv", "ce", "mtl")


def test_every_expression_loss_reads_expression_labels():
    """The plan's one rule (an expression loss with a positive weight needs labels) holds for every class."""
    for name in registry.expression_losses():
        assert "expressions" in losses.loss_class(registry.EXPRESSION, name).reads


def test_planning_reads_loss_names_without_importing_torch():
    code = "import sys; from emoverify import registry, study; registry.expression_losses(); "
    code += "print('torch' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT / "workflow"
    ).stdout
    assert output.strip() == "False"


def wildcard_constraints() -> dict[str, str]:
    """The rules' wildcard constraints, evaluated as Snakemake evaluates them."""
    block = COMMON.split("wildcard_constraints:")[1].split("\n\n")[0]
    pairs = re.findall(r"^\s+(\w+)=(.+),\s*$", block, flags=re.M)
    names = {"registry": registry, "METHOD_WILDCARD": METHOD_WILDCARD}
    return {name: eval(expression, names) for name, expression in pairs}


def test_wildcard_constraints_accept_exactly_the_registry_names():
    constraints = wildcard_constraints()
    for wildcard, names in (("label_source", registry.LABEL_SOURCES), ("reference", registry.REFERENCES)):
        for name in names:
            assert re.fullmatch(constraints[wildcard], name)
        assert not re.fullmatch(constraints[wildcard], "other")
        assert set(constraints[wildcard].split("|")) == set(names)


@pytest.mark.parametrize(
    ("aux", "expected"), [({}, False), ({"pdp": 0.0}, False), ({"pdp": 0.1}, True), ({"pdp": 0.0, "ce": 0.2}, True)]
)
def test_one_rule_for_needing_expression_labels(aux, expected):
    """The plan and the objective agree, weight 0 included (it is no term at all)."""
    assert registry.needs_expressions({"aux": aux}) is expected
    combined = objective.CombinedObjective("triplet", aux, losses.LossSettings(embedding_dim=8, n_identities=3))
    assert combined.needs_expressions is expected


def test_a_zero_weight_builds_the_baseline_objective():
    settings = losses.LossSettings(embedding_dim=8, n_identities=3)
    baseline = objective.CombinedObjective("triplet", {}, settings)
    zero = objective.CombinedObjective("triplet", {"ce": 0.0, "mtl": 0.0}, settings)
    assert zero.weights == baseline.weights == {}
    assert not list(zero.parameters())
