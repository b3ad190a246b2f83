"""Aligned faces kept by image content and settings, so a rerun of the faces stage detects only new or changed
images: ``<cache>/<settings digest>/<content sha1>.json`` holds what the detector computed for that content
(status, probability, face count and choice, box, landmarks, reason) and ``.png`` its crop. Entries are written
atomically after a result is final and never edited; delete the folder to reclaim space.

An entry is trusted only as far as it is checked: on read it must be valid JSON naming its own content and
settings digest and holding exactly the detector's fields, each of its type. Anything else (a truncated file,
an extra key such as ``identity`` or ``aligned_path``, a value of the wrong type, an entry copied under another
content's name) is a miss: the image is detected again and the reason noted (``FaceCache.notes``). Who a face
belongs to and where its crop lies always come from the dataset table, never from the cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from emoverify import atomic

BOX_FIELDS = ("box_x1", "box_y1", "box_x2", "box_y2")
LANDMARK_FIELDS = tuple(f"lm_{axis}{index}" for index in range(5) for axis in ("x", "y"))
TEXT_FIELDS = ("status", "face_taken", "reason_detail")
NUMBER_FIELDS = ("det_prob", *BOX_FIELDS, *LANDMARK_FIELDS)  # a number or null
COUNT_FIELD = "n_faces"  # a whole number or null
RESULT_FIELDS = (*TEXT_FIELDS, COUNT_FIELD, *NUMBER_FIELDS)
# the statuses the detector gives a content (``missing`` is about a path, not a content: never cached)
CACHED_STATUSES = ("ok", "unreadable", "no_face", "low_probability", "align_failed", "detector_error", "several_faces")
_NOTES_SHOWN = 5
ENTRY_FORMAT = 2  # 2: {content_sha1, settings, result}; bumped when an entry's layout changes


class FaceCache:
    def __init__(self, folder, settings: dict):
        keyed = {**settings, "entry_format": ENTRY_FORMAT}  # entries of an older format sit in another folder
        self.key = hashlib.sha1(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(folder) / self.key
        self.hits = 0
        self.refused: list[str] = []  # "<entry>: <why>" for every entry read but not trusted

    def restore(self, row: dict, content: str, out_dir: Path) -> bool:
        """Fill ``row``'s detector fields from the cache and copy its crop; False when this content was never
        aligned with these settings or its entry is not one the cache wrote (then noted, and detected again)."""
        entry = self.folder / f"{content}.json"
        if not content or not entry.is_file():
            return False
        try:
            saved = self._checked(entry, content)
        except ValueError as why:
            self.refused.append(f"{entry}: {why}")
            return False
        crop = self.folder / f"{content}.png"
        if saved["status"] == "ok":
            if crop.is_symlink() or not crop.is_file():
                return False
            target = Path(out_dir) / f"{row['image_id']}.png"
            shutil.copyfile(crop, target)
            row["aligned_path"] = str(target)
        row.update({key: (np.nan if value is None else value) for key, value in saved.items()})
        if saved[COUNT_FIELD] is None:
            row[COUNT_FIELD] = pd.NA
        self.hits += 1
        return True

    def store(self, row: dict, content: str) -> None:
        """Keep a finished row's result (not for missing files, whose content is unknown); each file appears
        complete or not at all."""
        if not content or row["status"] not in CACHED_STATUSES:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if row["status"] == "ok":
            with atomic.replaced_when_complete(self.folder / f"{content}.png") as partial:
                shutil.copyfile(row["aligned_path"], partial)
        record = {"content_sha1": content, "settings": self.key}
        record["result"] = {key: _plain(row.get(key)) for key in RESULT_FIELDS}
        atomic.write_text(self.folder / f"{content}.json", json.dumps(record))

    def notes(self) -> list[str]:
        """One line for the log when entries were refused (they were detected again), else none."""
        if not self.refused:
            return []
        more = f" and {len(self.refused) - _NOTES_SHOWN} more" if len(self.refused) > _NOTES_SHOWN else ""
        return [
            f"{len(self.refused)} face cache entr(ies) not trusted and detected again: "
            f"{'; '.join(self.refused[:_NOTES_SHOWN])}{more}"
        ]

    def _checked(self, entry: Path, content: str) -> dict:
        """The entry's result fields, or ValueError saying why the entry is not the cache's own."""
        try:
            record = json.loads(entry.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"unreadable ({type(error).__name__})") from None
        if not isinstance(record, dict) or set(record) != {"content_sha1", "settings", "result"}:
            raise ValueError("not an entry of this cache (expected content_sha1, settings and result)")
        if record["content_sha1"] != content or record["settings"] != self.key:
            raise ValueError("written for another content or settings")
        result = record["result"]
        if not isinstance(result, dict) or set(result) != set(RESULT_FIELDS):
            extra = sorted(set(result) - set(RESULT_FIELDS)) if isinstance(result, dict) else []
            raise ValueError(f"fields other than the detector's{f' ({extra})' if extra else ''}")
        problems = [key for key in TEXT_FIELDS if not isinstance(result[key], str)]
        problems += [key for key in NUMBER_FIELDS if not _number_or_null(result[key])]
        count = result[COUNT_FIELD]
        problems += [] if count is None or (type(count) is int and count >= 0) else [COUNT_FIELD]
        if problems:
            raise ValueError(f"values of the wrong type: {', '.join(problems)}")
        if result["status"] not in CACHED_STATUSES:
            raise ValueError(f"unknown status {result['status']!r}")
        return result


def _number_or_null(value) -> bool:
    return value is None or (type(value) in (int, float) and math.isfinite(value))


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value
