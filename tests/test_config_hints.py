"""Every message that tells the user to change a config key names a key the schema accepts."""

import ast
import re
from pathlib import Path

import pytest

from emoverify.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "workflow" / "emoverify"
SCHEMA = load_schema()
# how the library's messages point at a key: "the config key X", "--config X=", "set X to/:", "lower X", "raise X"
HINTS = re.compile(r"(?:config key|--config|\bset|\blower|\braise)\s+([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\b(?!\()")
NOT_KEYS = {
    "than",
    "every",
    "the",
    "a",
    "an",
    "it",
    "its",
    "them",
    "this",
    "one",
    "never",
    "error",
    "or",
    "and",
    "of",
    "key",
    "right",
    "do",
    "against",
    "bound",
    "by",
}


def schema_paths(schema: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, sub in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths |= {path, *schema_paths(sub, f"{path}.")}
    if isinstance(schema.get("additionalProperties"), dict):  # methods.<name>.geometry
        paths |= schema_paths(schema["additionalProperties"], f"{prefix}<name>.")
    return paths


PATHS = schema_paths(SCHEMA)
LEAVES = {path.rsplit(".", 1)[-1] for path in PATHS}


def message_texts(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module, f-strings with their placeholders as {}."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            texts.append((node.lineno, "".join(map(str, parts))))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append((node.lineno, node.value))
    return texts


def named_keys(text: str) -> list[str]:
    return [key for key in HINTS.findall(text) if key not in NOT_KEYS]


def key_exists(key: str) -> bool:
    """A dotted key must be a schema path; a bare one a key somewhere in the schema."""
    return key in PATHS if "." in key else key in LEAVES


def test_the_walk_finds_hints_and_would_catch_a_wrong_key():
    assert named_keys("name the right column with the config key csv_identity_column") == ["csv_identity_column"]
    assert not key_exists("csv_identity_column") and key_exists("csv_columns.identity") and key_exists("folds")
    assert named_keys("set folds to at most 4") == ["folds"] and named_keys("lower labels.confidence_threshold")


@pytest.mark.parametrize("path", sorted(LIBRARY.rglob("*.py")), ids=lambda p: str(p.relative_to(LIBRARY)))
def test_every_config_key_a_message_names_exists(path):
    wrong = [(line, key) for line, text in message_texts(path) for key in named_keys(text) if not key_exists(key)]
    assert not wrong, f"{path.name}: messages name config keys the schema does not accept: {wrong}"
