"""Aligned faces kept by image content and settings, so a rerun of the faces stage detects only new or changed
images: ``<cache>/<settings digest>/<content sha1>.json`` holds the manifest fields of the image's result and
``.png`` its crop. Entries are written after a result is final and never edited; delete the folder to reclaim space.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

# manifest fields that come from the image's content, not from its row (id, path, labels, crop path)
RESULT_FIELDS = ("status", "det_prob", "n_faces", "face_taken", "reason_detail")
RESULT_PREFIXES = ("box_", "lm_")


class FaceCache:
    def __init__(self, folder, settings: dict):
        key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(folder) / key
        self.hits = 0

    def restore(self, row: dict, content: str, out_dir: Path) -> bool:
        """Fill ``row`` from the cache and copy its crop; False when this content was never aligned."""
        entry = self.folder / f"{content}.json"
        if not content or not entry.is_file():
            return False
        saved = json.loads(entry.read_text())
        crop = self.folder / f"{content}.png"
        if saved["status"] == "ok":
            if not crop.is_file():
                return False
            target = Path(out_dir) / f"{row['image_id']}.png"
            shutil.copyfile(crop, target)
            row["aligned_path"] = str(target)
        row.update({key: (np.nan if value is None else value) for key, value in saved.items()})
        if saved.get("n_faces") is None:
            row["n_faces"] = pd.NA
        self.hits += 1
        return True

    def store(self, row: dict, content: str) -> None:
        """Keep a finished row's result (not for missing files, whose content is unknown)."""
        if not content or row["status"] == "missing":
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if row["status"] == "ok":
            shutil.copyfile(row["aligned_path"], self.folder / f"{content}.png")
        fields = {key: _plain(value) for key, value in row.items() if _is_result(key)}
        (self.folder / f"{content}.json").write_text(json.dumps(fields))


def _is_result(key: str) -> bool:
    return key in RESULT_FIELDS or key.startswith(RESULT_PREFIXES)


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value
