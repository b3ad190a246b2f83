"""The dataset as Snakemake sees it when it plans: the table with a content hash per image, read at parse time,
and short digests of the parts each stage depends on. Rules take these digests as params, so a data change
reruns exactly the jobs whose part changed (Snakemake's params trigger), and an untouched dataset plans nothing.

- ``table``: everything (paths, identities, labels, sessions, contents): the dataset and faces rules;
- ``images``: image ids with their paths and contents: what the aligned faces depend on;
- ``identities``: image ids with identity and session: the folds and every run;
- ``manual``: image ids with their manual expression: the manual-label check, agreement and manual runs.

The demo dataset is drawn by a rule, so its digests are those of its settings.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from emoverify.data import adapters
from emoverify.data.integrity import HASH_COLUMN, add_content_hashes, content_problem

PARTS = {
    "images": ("image_id", "path", HASH_COLUMN),
    "identities": ("image_id", "identity", "session"),
    "manual": ("image_id", "emotion_manual"),
}


def digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_table(config: dict, root, cache_path=None) -> pd.DataFrame:
    """The dataset table with content hashes; raises DatasetError on a listing or integrity problem.
    ``table.attrs["notes"]`` keeps what is reported without stopping."""
    columns = config["csv_columns"]
    table = adapters.load_dataset(
        config["dataset"],
        root,
        expression_map=config["expression_map"],
        ckplus_last_frames=config["ckplus_last_frames"],
        csv_path_column=columns["path"],
        csv_identity_column=columns["identity"],
        csv_emotion_column=columns["emotion"],
    )
    notes = table.attrs.get("notes", [])
    table = add_content_hashes(table, cache_path)
    error, note = content_problem(table)
    if error:
        raise adapters.DatasetError(error)
    table.attrs["notes"] = notes + ([note] if note else [])
    return table


def digests(table: pd.DataFrame) -> dict[str, str]:
    """The digest of the whole table and of each part in ``PARTS``."""
    keys = {"table": digest(table.to_dict("list"))}
    keys.update({part: digest(table[list(columns)].to_dict("list")) for part, columns in PARTS.items()})
    return keys


def demo_digests(demo_settings: dict) -> dict[str, str]:
    key = digest(demo_settings)
    return {part: key for part in ("table", *PARTS)}
