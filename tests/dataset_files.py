"""Small dataset files written by tests: a flat image, a csv dataset (its table and the config keys that read
it), one with an image drawn for each row, and the table the dataset stage reads from it."""

from pathlib import Path

import pandas as pd
from PIL import Image

from emoverify.data import snapshot


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


def tiny_table(folder: Path, rows) -> dict:
    """A csv dataset in ``folder``: each (path, identity, emotion) row's image drawn with its own grey level
    (so no two images are identical) unless the path is absolute or already exists; returns its config."""
    for value, (path, _, _) in enumerate(rows, start=10):
        target = folder / path
        if not Path(path).is_absolute() and not target.exists():
            write_image(target, value=value, size=24)
    return csv_dataset(folder, rows)


def read(config: dict, cache=None) -> pd.DataFrame:
    """The dataset stage's table of a csv dataset config."""
    return snapshot.read_table(config, config["data_root"], cache)
