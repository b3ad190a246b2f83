"""The config files of a command, read once more strictly than Snakemake reads them: a key given twice in one
file stops (YAML keeps the last silently), two dataset presets on one command stop (their repeats, grids and
methods would merge), and an overlay that changes the protocol (``workflow/presets/overlays/``) writes to an
experiment of its own unless the command names one, so it never rewrites a finished study's tables."""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigFileError(ValueError):
    """A config file or a combination of them that cannot describe one study; the message says what to do."""


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a mapping that repeats a key."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigFileError(
                    f"key {key!r} is given twice (lines {seen[key]} and {key_node.start_mark.line + 1}); YAML would "
                    "keep the last silently: keep one"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_strict(path) -> dict:
    """The config file at ``path``; ConfigFileError naming the file (and line) for a repeated key, a Python tag
    or text that is not YAML."""
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.load(handle, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except ConfigFileError as error:
        raise ConfigFileError(f"config file {path}: {error}") from None
    except yaml.constructor.ConstructorError as error:
        raise ConfigFileError(f"config file {path}: {tag_message(error)}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"config file {path} is not valid YAML: {error}") from None
    return loaded if isinstance(loaded, dict) else {}


def tag_message(error: yaml.constructor.ConstructorError) -> str:
    where = f"line {error.problem_mark.line + 1}: " if error.problem_mark is not None else ""
    tag = next((word.strip("'") for word in str(error.problem).split() if word.strip("'").startswith("tag:")), "")
    shown = tag.replace("tag:yaml.org,2002:", "!!") or "a tag"
    return (
        f"{where}{shown} is refused: config files hold plain values (numbers, text, lists, mappings), never "
        "Python objects; remove the tag"
    )


def check(paths, presets: Path, overrides: dict, experiment: str) -> str:
    """Read every config file of the command strictly; refuse two dataset presets; return the experiment the
    study writes to (an overlay's own, ``<experiment>_<overlay>``, unless a file of the user's or ``--config``
    names one)."""
    files = {Path(path).resolve(): read_strict(path) for path in paths}
    stacked = [path for path in files if path.parent == presets.resolve()]
    if len(stacked) > 1:
        raise ConfigFileError(
            f"{len(stacked)} dataset presets on one command: {', '.join(str(path) for path in stacked)}; their "
            "settings would merge into a study neither describes. Give one preset (then overlays, then your own "
            "file or --config)"
        )
    overlays = [path for path in files if path.parent == presets.resolve() / "overlays"]
    named = "experiment" in overrides or any(
        "experiment" in values
        for path, values in files.items()
        if not path.is_relative_to(presets.resolve()) and path != presets.resolve().parents[1] / "config.yaml"
    )
    if not overlays or named:
        return experiment
    return "_".join([experiment, *(path.stem for path in overlays)])
