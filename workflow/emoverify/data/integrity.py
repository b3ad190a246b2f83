"""Integrity of a dataset table: every image listed once, under one identity, and its content fingerprinted.

- ``path_problem``: a path listed twice, or under two identities, stops the study (de-duplicating silently
  would hide a labelling mistake; in a test fold such rows are distance-0 pairs counted as positive and negative).
- ``add_content_hashes``: a ``content_sha1`` column (sha1 of the file's bytes, "" for a missing file), cached by
  (path, size, mtime) so an unchanged dataset is not read again. What the faces cache and rerun decisions key on.
- ``content_problem``: identical bytes under two identities stop the study too (the same face cannot be two
  people); identical bytes within one identity are only noted (they make distance-0 positive pairs).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

HASH_COLUMN = "content_sha1"
_SHOWN = 5


def path_problem(table: pd.DataFrame) -> str | None:
    """Why the table's paths are not one row per image file, or None."""
    identities = table.groupby("path", sort=True)["identity"].agg(lambda ids: sorted(set(ids)))
    counts = table["path"].value_counts()
    repeated = sorted(path for path, n in counts.items() if n > 1 and len(identities[path]) == 1)
    conflicting = [(path, ids) for path, ids in identities.items() if len(ids) > 1]
    parts = []
    if repeated:
        parts.append(f"{len(repeated)} path(s) listed more than once: {_listing(repeated)}")
    if conflicting:
        shown = [f"{path} under {', '.join(ids)}" for path, ids in conflicting]
        parts.append(f"{len(conflicting)} path(s) listed under several identities: {_listing(shown)}")
    if not parts:
        return None
    return "; ".join(parts) + ". List each image once, under its one identity."


def file_sha1(path: str | Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_content_hashes(table: pd.DataFrame, cache_path: str | Path | None = None) -> pd.DataFrame:
    """The table with a ``content_sha1`` column; ``cache_path`` (a csv) keeps hashes by path, size and mtime."""
    cache = _read_cache(cache_path)
    hashes, rows = [], []
    for path in table["path"]:
        try:
            stat = os.stat(path)
        except OSError:
            hashes.append("")
            continue
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        digest = cache.get(key) or file_sha1(path)
        hashes.append(digest)
        rows.append((*key, digest))
    if cache_path is not None:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=["path", "size", "mtime_ns", HASH_COLUMN]).to_csv(cache_path, index=False)
    return table.assign(**{HASH_COLUMN: hashes})


def content_problem(table: pd.DataFrame) -> tuple[str | None, str | None]:
    """(an error, a note): identical content under several identities; identical content within one."""
    present = table[table[HASH_COLUMN] != ""]
    groups = [group for _, group in present.groupby(HASH_COLUMN, sort=True) if len(group) > 1]
    across = [group for group in groups if group["identity"].nunique() > 1]
    within = [group for group in groups if group["identity"].nunique() == 1]
    error = note = None
    if across:
        shown = [" = ".join(f"{row.path} ({row.identity})" for row in group.itertuples()) for group in across]
        error = (
            f"{len(across)} image(s) with identical content under several identities: {_listing(shown)}. "
            "The same picture cannot show two people: remove the wrong copy or fix its identity."
        )
    if within:
        shown = [" = ".join(group["path"]) for group in within]
        note = f"{len(within)} image(s) repeated with identical content within one identity: {_listing(shown)}"
    return error, note


def _listing(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def _read_cache(cache_path) -> dict:
    if cache_path is None or not Path(cache_path).is_file():
        return {}
    try:
        cached = pd.read_csv(cache_path, dtype={"path": str, HASH_COLUMN: str})
    except (OSError, ValueError, pd.errors.ParserError):
        return {}
    return {
        (row.path, int(row.size), int(row.mtime_ns)): row.content_sha1
        for row in cached.itertuples()
        if isinstance(row.content_sha1, str)
    }
