"""The canonical expression vocabulary and the aliases found in real datasets."""

from __future__ import annotations

from collections.abc import Mapping

EXPRESSIONS: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

ALIASES: dict[str, str] = {
    "angry": "anger",
    "an": "anger",
    "ang": "anger",
    "mad": "anger",
    "contemptuous": "contempt",
    "co": "contempt",
    "disgusted": "disgust",
    "di": "disgust",
    "dis": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fe": "fear",
    "happy": "happiness",
    "joy": "happiness",
    "ha": "happiness",
    "hap": "happiness",
    "smile": "happiness",
    "ne": "neutral",
    "neu": "neutral",
    "calm": "neutral",
    "sad": "sadness",
    "sa": "sadness",
    "surprised": "surprise",
    "su": "surprise",
    "sur": "surprise",
}


class UnknownExpressionError(ValueError):
    """An expression name that is neither canonical, a known alias, nor mapped by the config."""


def canonical_expression(name: str, extra_map: Mapping[str, str] | None = None) -> str:
    """Map a dataset's expression name to the canonical vocabulary.

    ``extra_map`` (from the config's ``expression_map``) is consulted first, so a
    user can name labels this module does not know. Empty names map to "".
    """
    key = str(name).strip().lower()
    if key in ("", "nan", "none"):
        return ""
    if extra_map:
        lowered = {str(k).strip().lower(): v for k, v in extra_map.items()}
        if key in lowered:
            return canonical_expression(lowered[key])
    if key in EXPRESSIONS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise UnknownExpressionError(
        f"unknown expression label {name!r}; allowed: {', '.join(EXPRESSIONS)} "
        f"(or an alias such as {', '.join(sorted(ALIASES)[:8])}, ...); "
        "map other names with the config key expression_map, e.g. expression_map: {"
        f"{name}: neutral}}"
    )
