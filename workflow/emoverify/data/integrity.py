"""Integrity of a dataset table: every image listed once, under one identity, and its content fingerprinted.

- ``path_problem``: a path listed twice, or under two identities, stops the study (de-duplicating silently
  would hide a labelling mistake; in a test fold such rows are distance-0 pairs counted as positive and negative).
- ``identity_spelling_problem``: identities equal up to case, spaces, invisible characters and Unicode form
  (``KA`` and ``ka``, ``KA`` and ``KA\u200b``, ``Zoë`` composed and decomposed, ``KA`` and fullwidth ``ＫＡ``)
  stop the study (the case alone not when the config says they are different people): counted as two, one
  person could sit in both the training and the test people of a fold.
- ``formula_problem``: cells that a spreadsheet would run as formulas stop the study (CSV injection).
- ``add_content_hashes``: a ``content_sha1`` column (sha1 of the file's bytes, "" for a missing file), cached by
  (path, size, mtime, inode, ctime) so an unchanged dataset is not read again; a file replaced by another of the
  same size with its time restored still gets a new inode or change time (which no copy can set), so it is
  hashed again. What the faces cache and rerun decisions key on.
- ``content_problem``: identical bytes under two identities stop the study too (the same face cannot be two
  people); identical bytes within one identity are only noted (they make distance-0 positive pairs).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path
from stat import S_ISREG

import pandas as pd

HASH_COLUMN = "content_sha1"
CACHE_KEY = ("path", "size", "mtime_ns", "inode", "ctime_ns")  # a file's hash is reused while all of these match
_SHOWN = 5
# Unicode categories of characters that show nothing: format (zero-width space, joiners, direction marks),
# control, unassigned and private use
_INVISIBLE = {"Cf", "Cc", "Cn", "Co"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CHECKED = ("identity", "session", "image_id", "path")


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


def identity_key(identity: str, case_sensitive: bool = False) -> str:
    """What two spellings of one person share: Unicode NFKC (fullwidth ``ＫＡ`` is ``KA``, a decomposed ``ë`` is
    ``ë``), invisible and format characters removed (zero-width spaces, joiners, direction marks), runs of
    spaces collapsed, surrounding spaces dropped; and case folded unless ``case_sensitive``."""
    text = unicodedata.normalize("NFKC", str(identity))
    text = "".join(char for char in text if unicodedata.category(char) not in _INVISIBLE)
    text = " ".join(text.split())
    return text if case_sensitive else text.casefold()


def identity_spelling_problem(table: pd.DataFrame, case_sensitive: bool = False) -> str | None:
    """Identities that differ only in case (unless ``case_sensitive``), spaces, invisible characters or Unicode
    form (``identity_key``), each spelling with its rows; or None."""
    keys = table["identity"].map(lambda identity: identity_key(identity, case_sensitive))
    spellings = table.groupby(keys, sort=True)["identity"].unique()
    clashes = [sorted(names) for names in spellings if len(names) > 1]
    if not clashes:
        return None
    shown = [" and ".join(_spelling_rows(table, name) for name in names) for names in clashes]
    hint = "" if case_sensitive else ", or set identities_case_sensitive: true if they are different people"
    return (
        f"{len(clashes)} identit(ies) spelt in several ways that differ only in case or surrounding spaces, "
        f"inner spaces, invisible characters or Unicode form: {_listing(shown)}. One person under two spellings "
        f"counts as two people and may sit on both sides of a fold: write each identity one way{hint}"
    )


def formula_problem(table: pd.DataFrame) -> str | None:
    """Cells of the table's text columns that a spreadsheet would run as a formula (OWASP's CSV injection:
    a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return), numbers such as ``-3`` apart; or None.

    The study writes these cells into every table it keeps (dataset/table.csv, faces/manifest.csv,
    splits/folds.csv, training_labels.csv, ...), which people open in spreadsheets: refused once here rather
    than escaped in each writer, so every table holds the data as it is."""
    found = []
    for column in FORMULA_CHECKED:
        for value, path in zip(table[column], table["path"]):
            if _starts_formula(str(value)):
                found.append(f"{column} {str(value)!r} ({path})")
    if not found:
        return None
    return (
        f"{len(found)} cell(s) start with =, +, -, @, a tab or a carriage return, which a spreadsheet opening the "
        f"study's tables runs as a formula: {_listing(found)}. Rename them to start with a letter or a digit."
    )


def _starts_formula(text: str) -> bool:
    if not text or text[0] not in FORMULA_STARTS:
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _spelling_rows(table: pd.DataFrame, name: str) -> str:
    paths = table.loc[table["identity"] == name, "path"].tolist()
    more = f" and {len(paths) - 2} more" if len(paths) > 2 else ""
    code = "" if repr(name) == ascii(name) else f" = {ascii(name)}"  # spellings that look alike: code points
    return f"{name!r}{code} ({len(paths)} row(s): {', '.join(paths[:2])}{more})"


def file_sha1(path: str | Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def add_content_hashes(table: pd.DataFrame, cache_path: str | Path | None = None) -> pd.DataFrame:
    """The table with a ``content_sha1`` column; ``cache_path`` (a csv) keeps hashes by path, size, mtime, inode
    and change time."""
    cache = _read_cache(cache_path)
    hashes, rows = [], []
    for path in table["path"]:
        try:
            stat = os.stat(path)
        except OSError:
            hashes.append("")
            continue
        if not S_ISREG(stat.st_mode):  # a device or a FIFO could be read forever: the adapters refuse them
            hashes.append("")
            continue
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)
        digest = cache.get(key) or file_sha1(path)
        hashes.append(digest)
        rows.append((*key, digest))
    if cache_path is not None:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=[*CACHE_KEY, HASH_COLUMN]).to_csv(cache_path, index=False)
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
    if not {*CACHE_KEY, HASH_COLUMN} <= set(cached.columns):  # an older cache's keys: hash everything again
        return {}
    return {
        (row.path, int(row.size), int(row.mtime_ns), int(row.inode), int(row.ctime_ns)): row.content_sha1
        for row in cached.itertuples()
        if isinstance(row.content_sha1, str)
    }
