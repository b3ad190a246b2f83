"""The development people a preset's recipe was chosen on (its ``identities.csv``), against those a study draws.

A recipe chosen on development people is honest only while the study sets those same people aside: were the
partition to move (a person gaining or losing usable faces under the ``sorted`` draw, another seed, fraction or
draw), people the recipe was chosen on would sit in some fold's test split, and people it never saw would be held
out for nothing. The study plan reads the record named by ``recipe_identities``; the splits job compares it
with the partition it draws and stops, naming who differs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emoverify.splits.folds import SplitError

SHOWN = 10  # names listed per side of a mismatch


class RecordError(ValueError):
    """A recorded identities.csv that cannot be read as a list of people."""


class DevelopmentMismatchError(SplitError):
    """The development people drawn differ from those the recipe was chosen on."""


def read_recorded(path) -> list[str]:
    """The people of a recipe's identities.csv (column ``identity``), sorted."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path} does not exist")
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    if "identity" not in table.columns:
        raise RecordError(f"{path} has no identity column (columns: {', '.join(table.columns)})")
    people = table["identity"].str.strip()
    if (people == "").any() or people.duplicated().any():
        raise RecordError(f"{path}: every row must name one person once (an empty or repeated identity)")
    return sorted(people)


def _listed(people: list[str]) -> str:
    shown = ", ".join(people[:SHOWN])
    return f"{shown} and {len(people) - SHOWN} more" if len(people) > SHOWN else shown or "nobody"


def mismatch(drawn, recorded) -> tuple[list[str], list[str]]:
    """(in the record, not drawn; drawn, not in the record), each sorted."""
    drawn, recorded = set(map(str, drawn)), set(map(str, recorded))
    return sorted(recorded - drawn), sorted(drawn - recorded)


def check_recorded(drawn, record: dict | None, partition: dict) -> None:
    """Stop when the development people ``drawn`` are not the ``record``'s (``{"path": ..., "people": [...]}``,
    as study.recipe_record reads it; None: no record, nothing to check). ``partition`` (development_fraction,
    development_seed, development_partition) is named in the message."""
    if record is None:
        return
    only_recorded, only_drawn = mismatch(drawn, record["people"])
    if not only_recorded and not only_drawn:
        return
    settings = ", ".join(f"{key} {value}" for key, value in partition.items())
    raise DevelopmentMismatchError(
        f"the development people this study draws ({settings}: {len(set(drawn))} people) are not those its recipe "
        f"was chosen on ({record['path']}: {len(record['people'])} people). In the recipe, not in this study "
        f"({len(only_recorded)}): {_listed(only_recorded)}. In this study, not in the recipe ({len(only_drawn)}): "
        f"{_listed(only_drawn)}. The recipe's choices would rest on people this study tests on. Either re-search the "
        "recipe on this partition (python -m emoverify.tuning.recipe_search, docs/tuning.md) and commit its "
        "identities.csv, or restore the data (and faces settings) the recipe was searched on: under "
        "development_partition sorted one person gaining or losing usable faces moves others, under hash only "
        "that person moves"
    )
