"""Agreement between manual expression labels and fer's detected labels.

Every image with a manual label falls in exactly one group, tested in this order:

1. ``n_not_classified``: fer gave no label (no usable face, unreadable crop,
   or absent from the detected table);
2. ``n_below_threshold``: fer's confidence was below the threshold;
3. ``n_manual_only_class``: the manual class is one fer cannot output
   (``contempt``); these count in the confusion matrix (their row shows where
   fer puts them) but not in ``accuracy`` and ``cohen_kappa``;
4. ``n_compared``: the rest; ``accuracy`` and ``cohen_kappa`` use these only.

``accuracy_including_unmappable`` counts the manual-only-class images as
errors: ``n_correct / (n_compared + n_manual_only_class)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import cohen_kappa_score

from emoverify.labels.classifier import DETECTABLE
from emoverify.labels.sources import BELOW_THRESHOLD, normalise_detected
from emoverify.vocabulary import EXPRESSIONS, canonical_expression

COUNTING_RULE = (
    "images whose manual class fer cannot output (e.g. contempt) are excluded from accuracy and kappa and "
    "counted as n_manual_only_class (errors in accuracy_including_unmappable); images below the confidence "
    "threshold or not classified are excluded and counted separately"
)


def label_agreement(manual: pd.Series, detected: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Compare manual labels with fer's labels over the classes both know.

    ``manual``: canonical names (``""`` = no manual label) indexed by
    ``image_id``. ``detected``: the labels stage's table, normally after
    ``labels.apply_threshold``. Returns ``(metrics, confusion)``: metrics holds
    the counts of the module docstring, ``n_correct``, ``accuracy``,
    ``cohen_kappa``, ``accuracy_including_unmappable`` (NaN when nothing is
    compared), the class lists and ``counting_rule``; ``confusion`` counts
    images with a confident detection, rows = manual class (canonical order,
    classes present), columns = every class fer can output.
    """
    groups = _grouped(manual, detected)
    compared = groups[groups["group"] == "compared"]
    confident = groups[groups["group"].isin(["compared", "manual_only_class"])]
    n_correct = int((compared["manual"] == compared["detected"]).sum())
    n_unmappable = int((groups["group"] == "manual_only_class").sum())
    metrics = {
        "n_manual_labelled": len(groups),
        "n_not_classified": int((groups["group"] == "not_classified").sum()),
        "n_below_threshold": int((groups["group"] == "below_threshold").sum()),
        "n_manual_only_class": n_unmappable,
        "n_compared": len(compared),
        "n_correct": n_correct,
        "accuracy": _ratio(n_correct, len(compared)),
        "cohen_kappa": _kappa(compared),
        "accuracy_including_unmappable": _ratio(n_correct, len(compared) + n_unmappable),
        "detectable_classes": list(DETECTABLE),
        "manual_only_classes": sorted(set(groups.loc[groups["group"] == "manual_only_class", "manual"])),
        "counting_rule": COUNTING_RULE,
    }
    return metrics, _confusion(confident)


def plot_confusion(confusion: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Write the confusion matrix as a PNG: counts in the cells, colours = share of the manual row."""
    counts = confusion.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    figure = Figure(figsize=(1.1 * counts.shape[1] + 3, 0.8 * counts.shape[0] + 2.2), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if shares[row, column] > 0.6 else "black"
        axes.text(
            column, row, f"{int(count)}\n{shares[row, column]:.0%}", ha="center", va="center", color=colour, fontsize=8
        )
    axes.set_xticks(range(counts.shape[1]), confusion.columns, rotation=35, ha="right")
    axes.set_yticks(range(counts.shape[0]), [f"{name} (n={int(n)})" for name, n in zip(confusion.index, totals[:, 0])])
    axes.set_xlabel("detected (fer)")
    axes.set_ylabel("manual label")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="share of the manual row")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    return path


def _grouped(manual: pd.Series, detected: pd.DataFrame) -> pd.DataFrame:
    names = manual.fillna("").astype(object).map(canonical_expression)
    labelled = names[names != ""]
    table = normalise_detected(detected).drop_duplicates("image_id").set_index("image_id")
    frame = pd.DataFrame(
        {
            "manual": labelled.to_numpy(dtype=object),
            "detected": table["emotion_detected"].reindex(labelled.index).fillna("").to_numpy(dtype=object),
            "status": table["detect_status"]
            .reindex(labelled.index)
            .fillna("absent from detected table")
            .to_numpy(dtype=object),
        },
        index=labelled.index,
    )
    frame["group"] = np.select(
        [frame["status"] == BELOW_THRESHOLD, frame["detected"] == "", ~frame["manual"].isin(DETECTABLE)],
        ["below_threshold", "not_classified", "manual_only_class"],
        default="compared",
    )
    return frame


def _confusion(confident: pd.DataFrame) -> pd.DataFrame:
    rows = [e for e in EXPRESSIONS if e in set(confident["manual"])]
    table = pd.crosstab(confident["manual"], confident["detected"])
    table = table.reindex(index=rows, columns=list(DETECTABLE), fill_value=0).astype(int)
    table.index.name, table.columns.name = "manual", "detected"
    return table


def _kappa(compared: pd.DataFrame) -> float:
    if compared.empty:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kappa is undefined (NaN) when both raters use one class
        return float(cohen_kappa_score(compared["manual"], compared["detected"], labels=list(DETECTABLE)))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")
