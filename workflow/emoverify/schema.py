"""The config schema, with its lists of allowed names filled in from the registry.

The schema file does not repeat the registry's lists. Where a value must be one of them it says
``names: <registry attribute>`` (a tuple, or a function giving one), which :func:`load_schema` turns into
``enum: [...]``; an object whose keys are such names (a method's ``aux``, a method's ``grid``) says
``properties_per_name: {names: <registry attribute>, schema: <each one's schema>}``, which becomes one
property per name beside its other properties. The Snakefile and the tests load the schema this way only.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from emoverify import registry

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
NAMES = "names"
PROPERTIES_PER_NAME = "properties_per_name"


def registry_names(attribute: str) -> tuple[str, ...]:
    """The names a registry attribute holds (a tuple of names, or a function that gives them)."""
    value = getattr(registry, attribute, None)
    names = value() if callable(value) else value
    if not isinstance(names, tuple) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"the schema asks for registry.{attribute}, which is not a list of names in the registry")
    return names


def with_registry_names(node: Any) -> Any:
    """``node`` (a schema, or part of one) with every ``names`` and ``properties_per_name`` filled in."""
    if isinstance(node, list):
        return [with_registry_names(item) for item in node]
    if not isinstance(node, dict):
        return node
    filled = {key: with_registry_names(value) for key, value in node.items() if key not in (NAMES, PROPERTIES_PER_NAME)}
    if NAMES in node:
        filled["enum"] = list(registry_names(node[NAMES]))
    if PROPERTIES_PER_NAME in node:
        spec = node[PROPERTIES_PER_NAME]
        per_name = {name: copy.deepcopy(with_registry_names(spec["schema"])) for name in registry_names(spec[NAMES])}
        filled["properties"] = {**per_name, **filled.get("properties", {})}
    return filled


def load_schema(path: Path | str = SCHEMA_PATH) -> dict:
    """The config schema with the registry's names filled in (read the registry as it is now, so a loss class
    registered at run time is a name the config may use)."""
    return with_registry_names(yaml.safe_load(Path(path).read_text()))


def validate(config: dict, schema: dict) -> None:
    """Check ``config`` against ``schema`` and fill in the schema's defaults, in place (what Snakemake's
    ``validate`` does for a schema file); raises jsonschema's ValidationError."""
    import jsonschema  # comes with snakemake

    validator_class = jsonschema.Draft202012Validator
    check_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, property_schema in properties.items():
                if "default" in property_schema:
                    instance.setdefault(name, copy.deepcopy(property_schema["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    filling = jsonschema.validators.extend(validator_class, {"properties": set_defaults})
    filling(schema).validate(config)
