"""Hand-made metrics.json files, written where the layout puts a run, for the report tests."""

import json

from emoverify.layout import Run


def write_run(root, method, labels, fold, seed, metrics, repeat=0, **extra):
    folder = root / Run(method, labels, fold, seed, repeat=repeat).path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.json"
    record = {
        "method": method,
        "labels": labels,
        "repeat": repeat,
        "fold": fold,
        "seed": seed,
        "status": "ok",
        "metrics": metrics,
        **extra,
    }
    path.write_text(json.dumps(record))
    return path


TL_AUC = [0.80, 0.70, 0.75, 0.90]
FBV_AUC = [0.85, 0.78, 0.79, 0.93]


def write_study(tmp_path):
    """tl (no labels) and tl_fbv (manual) on 4 folds, plus one missing and one broken run."""
    paths = []
    for fold, (tl, fbv) in enumerate(zip(TL_AUC, FBV_AUC)):
        paths.append(write_run(tmp_path, "tl", "none", fold, 0, {"auc": tl, "eer": 1 - tl, "notes": []}))
        paths.append(
            write_run(tmp_path, "tl_fbv", "manual", fold, 0, {"auc": fbv, "eer": 1 - fbv, "notes": ["a note"]})
        )
    paths.append(tmp_path / Run("tl_fbv", "detected", 0, 0).path / "metrics.json")
    broken = tmp_path / Run("tl_fbv", "detected", 1, 0).path / "metrics.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    paths.append(broken)
    return paths
