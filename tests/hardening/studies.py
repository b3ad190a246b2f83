"""Small csv studies for the end-to-end hardening cases: noise images (one per row, all different) in a
folder of any name, whole images as faces (detector none), one method, manual labels, two folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from snakemake_helpers import TINY

EXPRESSIONS = ("AN", "HA", "SA", "SU")


def write_csv_dataset(folder: Path, identities, images_per_person: int = 4, seed: int = 0) -> Path:
    """``folder/labels.csv`` listing ``images_per_person`` noise images per identity; returns the table."""
    generator = np.random.default_rng(seed)
    rows = []
    for person, identity in enumerate(identities):
        for index in range(images_per_person):
            name = f"images/p{person}_{index}.png"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(generator.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / name)
            rows.append((name, identity, EXPRESSIONS[index % len(EXPRESSIONS)]))
    table = folder / "labels.csv"
    pd.DataFrame(rows, columns=["path", "identity", "emotion"]).to_csv(table, index=False)
    return table


def csv_study(table: Path, experiment: str = "hard") -> dict:
    """The tiny demo study of the end-to-end tests on the csv table ``table``."""
    return {
        **TINY,
        "experiment": experiment,
        "dataset": "csv",
        "data_root": str(table),
        "faces": {"detector": "none", "size": 32},
        "run_methods": ["tl"],
        "label_sources": ["manual"],
        "references": [],
    }
