"""The config schema file and the registry's names in it.

``workflow/schemas/config.schema.yaml`` is plain JSON Schema, read as it is by Snakemake's ``validate`` (which
fills in its defaults). Every list of allowed names in it (datasets, losses, mining modes, ...) is an ``enum``
under ``$defs``, which the properties name with ``$ref``; those enums are the file's last lines, written from the
registry and the loss modules by ``python -m emoverify.schema``. tests/test_schema.py fails
while the file and the registry differ, so a loss module added without rewriting them is caught.
"""

from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path
from typing import Any

import yaml

from emoverify import metrics, registry

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
# the comment line after which the file holds the generated enums (nothing else may follow it)
GENERATED = "  # the registry's names, written by `python -m emoverify.schema` (edit the registry, not these lines)"
LOCAL_REF = "#/$defs/"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: a tenth of the pure-Python time


def registry_enums() -> dict[str, tuple[str, ...]]:
    """Each ``$defs`` enum of the schema file and the names it must hold."""
    return {
        "dataset_adapters": registry.DATASET_ADAPTERS,
        "partitions": registry.PARTITIONS,
        "development_draws": registry.DEVELOPMENT_DRAWS,
        "expression_counts": registry.EXPRESSION_COUNTS,
        "face_detectors": registry.FACE_DETECTORS,
        "face_policies": registry.FACE_POLICIES,
        "own_label_sources": registry.OWN_LABEL_SOURCES,
        "expression_label_sources": registry.EXPRESSION_LABEL_SOURCES,
        "devices": registry.DEVICES,
        "references": registry.REFERENCES,
        "backbones": registry.BACKBONES,
        "finetune_levels": registry.FINETUNE_LEVELS,
        "feature_extractors": registry.FEATURE_EXTRACTORS,
        "head_projections": registry.HEAD_PROJECTIONS,
        "pretrained_weights": registry.PRETRAINED_WEIGHTS,
        "optimizers": registry.OPTIMIZERS,
        "mining_modes": registry.MINING_MODES,
        "batch_samplers": registry.BATCH_SAMPLERS,
        "validation_figures": metrics.VALIDATION_FIGURES,
        "expression_weight_modes": registry.EXPRESSION_WEIGHT_MODES,
        "arcface_centre_starts": registry.ARCFACE_CENTRE_STARTS,
        "early_stopping_modes": registry.EARLY_STOPPING_MODES,
        "primary_losses": registry.primary_losses(),
        "geometries": registry.GEOMETRIES,
        "expression_losses": registry.expression_losses(),
        # a method's grid: an expression loss's weight, all of them together, or a training knob
        "grid_keys": (*registry.expression_losses(), registry.EXPRESSION_WEIGHT, *registry.TRAINING_KNOBS),
    }


def generated_lines() -> list[str]:
    """The schema file's generated enums, one ``$defs`` entry a line."""
    return [
        f"  {name}: {{type: string, enum: {yaml.safe_dump(list(names), default_flow_style=True).strip()}}}"
        for name, names in registry_enums().items()
    ]


def with_registry_enums(text: str) -> str:
    """The schema file's text with its generated enums rewritten from the registry."""
    lines = text.splitlines()
    if GENERATED not in lines:
        raise ValueError(f"the schema file lacks the line after which its enums are written:\n{GENERATED}")
    kept = lines[: lines.index(GENERATED) + 1]
    return "\n".join([*kept, *generated_lines()]) + "\n"


def enum_differences(path: Path | str = SCHEMA_PATH) -> list[str]:
    """How the schema file's enums differ from the registry's names, one line each (none when equal)."""
    defs = yaml.safe_load(Path(path).read_text()).get("$defs", {})
    differences = []
    for name, names in registry_enums().items():
        written = defs.get(name, {}).get("enum")
        if written != list(names):
            differences.append(f"$defs.{name}: the file allows {written}, the registry {list(names)}")
    return differences


def inlined(node: Any, defs: dict) -> Any:
    """``node`` with every local ``$ref`` replaced by the definition it names (its own keys, a default or a
    description, kept beside it)."""
    if isinstance(node, list):
        return [inlined(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    own = {key: inlined(value, defs) for key, value in node.items() if key != "$ref"}
    reference = node.get("$ref")
    if reference is None:
        return own
    if not reference.startswith(LOCAL_REF) or reference[len(LOCAL_REF) :] not in defs:
        raise ValueError(f"the schema refers to {reference}, which is not one of its $defs")
    return {**copy.deepcopy(inlined(defs[reference[len(LOCAL_REF) :]], defs)), **own}


def load_schema(path: Path | str = SCHEMA_PATH) -> dict:
    """The config schema with its ``$defs`` written in place, what the config's coercion and its messages walk
    (jsonschema validates it exactly as the file)."""
    schema = yaml.load(Path(path).read_text(), Loader=LOADER)  # noqa: S506 (a safe loader)
    return inlined(schema, schema.get("$defs", {}))


def default(*keys: str) -> Any:
    """The schema file's default of a config key (``default("training", "arcface_scale")``): where a library
    default must equal the config's, it is read from here rather than written again."""
    node = _file_schema()
    for key in keys:
        node = node["properties"][key]
    return copy.deepcopy(node["default"])


@functools.cache
def _file_schema() -> dict:
    return yaml.load(SCHEMA_PATH.read_text(), Loader=LOADER)  # noqa: S506 (a safe loader)


def fill_defaults(config: dict, path: Path | str = SCHEMA_PATH) -> None:
    """Fill in the schema's defaults in ``config``, in place, with Snakemake's ``validate`` as the workflow does
    (check the config with ``study.check_schema`` first: its messages name the key and the allowed values)."""
    from snakemake.utils import validate

    validate(config, str(path))
    config.update(unshared(config))  # Snakemake gives every method without aux the schema's one default {}


def unshared(value: Any) -> Any:
    """A copy in which no dict or list appears twice."""
    if isinstance(value, dict):
        return {key: unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unshared(item) for item in value]
    return value


def main(path: Path | str = SCHEMA_PATH) -> int:
    """Rewrite the schema file's enums from the registry; say whether they changed."""
    path = Path(path)
    text = path.read_text()
    rewritten = with_registry_enums(text)
    if rewritten != text:
        path.write_text(rewritten)
    print(f"{path}: {'enums rewritten from the registry' if rewritten != text else 'enums already equal the registry'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
