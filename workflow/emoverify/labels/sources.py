"""The label-source switch: one ``emotion`` per image, from manual or detected labels.

Downstream stages never look at where a label came from: they receive one
canonical expression name per image, ``""`` when unknown. An image whose
detected label falls below the confidence threshold is unknown for the
expression losses but still serves the identity loss.
"""

from __future__ import annotations

import pandas as pd

from emoverify.registry import EXPRESSION_LABEL_SOURCES
from emoverify.vocabulary import canonical_expression

BELOW_THRESHOLD = "below_threshold"


class LabelSourceError(ValueError):
    """The requested label source is not available for this dataset or configuration."""


def apply_threshold(detected: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Return a copy of ``detected`` whose low-confidence labels are unknown.

    Rows classified with ``confidence < threshold`` get ``emotion_detected = ""``
    and ``detect_status = "below_threshold"``; their probabilities are kept.
    ``detected`` needs ``image_id, emotion_detected, confidence``; a missing
    ``detect_status`` is derived (``ok`` where a label exists).
    """
    _check_threshold(threshold)
    table = normalise_detected(detected)
    below = (table["detect_status"] == "ok") & (table["confidence"] < threshold)
    table.loc[below, "emotion_detected"] = ""
    table.loc[below, "detect_status"] = BELOW_THRESHOLD
    return table


def resolve_expressions(
    manifest: pd.DataFrame, detected: pd.DataFrame | None, source: str, threshold: float = 0.0
) -> pd.Series:
    """Return the expression of each manifest image for the chosen label source.

    The result is indexed by ``image_id``, named ``emotion``, and holds
    canonical names or ``""`` (unknown). ``source`` is ``manual`` (the
    manifest's ``emotion_manual``) or ``detected`` (fer's labels, ``""`` below
    ``threshold`` and for faces that were not classified). Raises
    LabelSourceError when the source cannot serve this dataset.
    """
    if source not in EXPRESSION_LABEL_SOURCES:
        raise LabelSourceError(
            f"unknown label source {source!r}; label_sources may contain {', '.join(EXPRESSION_LABEL_SOURCES)}"
        )
    if source == "manual":
        labels = _manual_labels(manifest)
    else:
        labels = _detected_labels(manifest, detected, threshold)
    return labels.rename("emotion")


def drop_rare_expressions(labels: pd.Series, min_images: int) -> pd.Series:
    """``labels`` with every expression that fewer than ``min_images`` images carry made unknown ("").

    A class seen on a handful of images gives the expression losses a few pairs of mostly noise (crowd labels
    in the wild); counting over the dataset, not a fold, keeps one vocabulary for every fold and label source.
    """
    if min_images <= 1:
        return labels
    counts = labels[labels != ""].value_counts()
    rare = counts.index[counts < min_images]
    return labels.where(~labels.isin(rare), "")


def manual_expressions(manifest: pd.DataFrame) -> pd.Series:
    """Canonical manual labels indexed by ``image_id`` (``""`` where the dataset has none)."""
    if "emotion_manual" not in manifest.columns:
        return pd.Series("", index=pd.Index(manifest["image_id"], name="image_id"), dtype=object)
    names = manifest["emotion_manual"].fillna("").map(canonical_expression)
    return pd.Series(names.to_numpy(dtype=object), index=pd.Index(manifest["image_id"], name="image_id"))


def _manual_labels(manifest: pd.DataFrame) -> pd.Series:
    labels = manual_expressions(manifest)
    if (labels == "").all():
        raise LabelSourceError(
            "label source 'manual' was requested but this dataset has no manual expression labels "
            "(emotion_manual is empty for every image); set label_sources: [detected] to use fer's labels"
        )
    return labels


def _detected_labels(manifest: pd.DataFrame, detected: pd.DataFrame | None, threshold: float) -> pd.Series:
    if detected is None:
        raise LabelSourceError(
            "label source 'detected' was requested but no detected-label table was given; "
            "run the labels stage first (results/<experiment>/labels/detected.csv)"
        )
    table = apply_threshold(detected, threshold).set_index("image_id")
    usable = (
        manifest.loc[manifest["status"] == "ok", "image_id"] if "status" in manifest.columns else manifest["image_id"]
    )
    absent = usable[~usable.isin(table.index)]
    if len(absent):
        raise LabelSourceError(
            f"the detected-label table lacks {len(absent)} usable image(s) of the manifest "
            f"(e.g. {', '.join(map(str, absent.head(3)))}); rerun the labels stage on this manifest"
        )
    labels = table["emotion_detected"].reindex(manifest["image_id"]).fillna("")
    return pd.Series(labels.to_numpy(dtype=object), index=pd.Index(manifest["image_id"], name="image_id"))


def _check_threshold(threshold: float) -> None:
    if not 0 <= threshold <= 1:
        raise LabelSourceError(f"the confidence threshold must be between 0 and 1, got {threshold!r}")


def normalise_detected(detected: pd.DataFrame) -> pd.DataFrame:
    """Check a detected-label table and return a copy with canonical labels and a ``detect_status`` column."""
    missing = {"image_id", "emotion_detected", "confidence"} - set(detected.columns)
    if missing:
        raise LabelSourceError(
            f"the detected-label table lacks column(s) {sorted(missing)}; expected the labels stage's detected.csv"
        )
    table = detected.copy()
    table["emotion_detected"] = table["emotion_detected"].fillna("").astype(object).map(canonical_expression)
    # read with keep_default_na=False, unclassified rows hold "" instead of NaN
    table["confidence"] = pd.to_numeric(table["confidence"], errors="coerce")
    if "detect_status" not in table.columns:
        table["detect_status"] = (table["emotion_detected"] != "").map({True: "ok", False: "not classified"})
    return table
