"""The dataset as Snakemake sees it when it plans: the table with a content hash per image, read at parse time.
The ``dataset`` rule takes the table's digest as a param, so any change of paths, identities, labels, sessions
or image contents reruns it (Snakemake's params trigger), and an untouched dataset plans nothing; files touched
or copied with new times but the same content change nothing.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from emoverify.data import adapters
from emoverify.data.integrity import add_content_hashes, content_problem


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
        identities_case_sensitive=config.get("identities_case_sensitive", False),
    )
    notes = table.attrs.get("notes", [])
    table = add_content_hashes(table, cache_path)
    error, note = content_problem(table)
    if error:
        raise adapters.DatasetError(error)
    table.attrs["notes"] = notes + ([note] if note else [])
    return table
