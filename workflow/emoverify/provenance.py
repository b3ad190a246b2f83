"""Which dataset table a stage was built from, so a study never presents tables of an older dataset.

Each stage that derives from the table records, beside its main output (``<output>.built_from``), the sha1 of
the ``dataset/table.csv`` it was built from: the faces stage of the table it read, the splits of the manifest's
record, the aggregate of the folds'. Snakemake cannot always see that a stage is stale: a failed faces job
deletes the manifest, and with the manifest gone nothing downstream looks out of date ("Nothing to be done"
while the folds and summary hold the old people). ``stale_stages`` compares the records with the table on
disk; planning removes the stale stages' main outputs so that Snakemake reruns them (and what follows),
``snakemake --report`` and the aggregate job stop naming them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from emoverify import atomic

SUFFIX = ".built_from"


class StaleStageError(RuntimeError):
    """A stage's outputs were built from another dataset table than the current one."""


def table_sha1(table) -> str:
    return hashlib.sha1(Path(table).read_bytes()).hexdigest()


def record_path(output) -> Path:
    return Path(f"{output}{SUFFIX}")


def record(output, built_from: str) -> None:
    """Note that ``output`` was built from the table whose sha1 is ``built_from``."""
    atomic.write_text(record_path(output), built_from + "\n")


def recorded(output) -> str | None:
    """The table sha1 ``output`` was built from, or None (no record: built before records were kept)."""
    path = record_path(output)
    return path.read_text().strip() or None if path.is_file() else None


def stale_stages(table, outputs: dict[str, str]) -> list[str]:
    """The stages (names of ``outputs``: stage -> its main output) whose record names another table than
    ``table`` on disk; none when the table does not exist yet."""
    if not Path(table).is_file():
        return []
    current = table_sha1(table)
    return [stage for stage, output in outputs.items() if recorded(output) not in (None, current)]


def stale_message(stages: list[str], outputs: dict[str, str], table) -> str:
    shown = ", ".join(f"{stage} ({outputs[stage]})" for stage in stages)
    return f"built from another dataset table than the current {table}: {shown}"


def plan_reruns(table, outputs: dict[str, str], reporting: bool) -> str | None:
    """At planning: remove the main output of every stale stage (``outputs``: rule name -> its main output)
    and its record, so that Snakemake reruns the stage and what follows it; a note saying so, or None when
    nothing is stale. The removed files describe another dataset than the current one: nothing worth keeping.
    When only a report is asked for (``reporting``), stop instead: it would present the stale tables."""
    stages = stale_stages(table, outputs)
    if not stages:
        return None
    message = stale_message(stages, outputs, table)
    if reporting:
        raise StaleStageError(f"{message}. Run the study (snakemake) before building its report.")
    for stage in stages:
        Path(outputs[stage]).unlink(missing_ok=True)
        record_path(outputs[stage]).unlink(missing_ok=True)
    return f"{message}: removed, so that they and what follows them run again"


def carry(source, output) -> None:
    """Give ``output`` the record of the ``source`` it was built from (nothing when ``source`` has none)."""
    built_from = recorded(source)
    if built_from is not None:
        record(output, built_from)


def require_current(table, outputs: dict[str, str]) -> None:
    """Stop (``StaleStageError``) when a stage of ``outputs`` was built from another table than ``table``."""
    stages = stale_stages(table, outputs)
    if stages:
        raise StaleStageError(f"{stale_message(stages, outputs, table)}; run snakemake again to rebuild them")
