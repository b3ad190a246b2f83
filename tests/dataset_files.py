"""Small dataset files written by tests: a flat image, and a csv dataset (its table and the config keys that
read it)."""

from pathlib import Path

import pandas as pd
from PIL import Image


def write_image(path: Path, value: int = 128, size: int = 48) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), value).save(path, format="PNG")
    return path


def csv_dataset(tmp_path, rows) -> dict:
    pd.DataFrame(rows, columns=["path", "identity", "emotion"]).to_csv(tmp_path / "labels.csv", index=False)
    return {
        "dataset": "csv",
        "data_root": str(tmp_path / "labels.csv"),
        "expression_map": {},
        "ckplus_last_frames": 3,
        "csv_columns": {"path": "path", "identity": "identity", "emotion": "emotion"},
    }
