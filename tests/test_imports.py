"""Imports point down: a stage package uses the shared layers and earlier stages, never a later stage or a
sibling that runs beside it (training and evaluation share model/ instead of importing each other)."""

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "workflow" / "emoverify"
# Lower rank = lower layer. Modules at the top of the package are the shared base, except the plan (study),
# which sits above every stage (rules read it; no stage does). Tuning reads what training logged and hands the
# report its winners; the findings export sits above the plan. Labels and features both follow the faces and
# run beside each other, so neither imports the other.
RANK = {
    "data": 1,
    "faces": 2,
    "labels": 3,
    "features": 3,
    "splits": 4,
    "training": 5,
    "evaluation": 5,
    "tuning": 6,
    "report": 7,
    "study": 8,
    "findings": 9,  # exports finished studies: reads the plan's config handling, nothing imports it
    "rebuild": 9,  # rebuilds a committed study's report tables from its runs.csv: reads the plan's report settings
}
BASE = 0


def layer(module: str) -> tuple[str, int]:
    """('data', 1) for emoverify.data.adapters, ('base', 0) for emoverify.losses, ('model', 0) for model/."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "emoverify"
    return name, RANK.get(name, BASE)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emoverify"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("emoverify")}
    return found


MODULES = sorted(LIBRARY.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIBRARY)))
def test_imports_point_down(path):
    module = "emoverify." + ".".join(path.relative_to(LIBRARY).with_suffix("").parts)
    own_name, own_rank = layer(module)
    for imported in imports_of(path):
        name, rank = layer(imported)
        if name == own_name:
            continue
        assert rank < own_rank or rank == BASE, f"{module} imports {imported} (a layer at or above its own)"
