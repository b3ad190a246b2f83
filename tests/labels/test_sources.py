"""The label-source switch and the confidence threshold."""

import io

import numpy as np
import pandas as pd
import pytest

from emoverify.labels.sources import BELOW_THRESHOLD, LabelSourceError, apply_threshold, resolve_expressions


def detected_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["a", "b", "c", "d"],
            "emotion_detected": ["happiness", "anger", "neutral", ""],
            "confidence": [0.9, 0.4, 0.39, np.nan],
            "detect_status": ["ok", "ok", "ok", "face: no_face"],
        }
    )


def manifest(manual=("happy", "AN", "", "sadness")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": ["a", "b", "c", "d"],
            "identity": ["x", "x", "y", "y"],
            "emotion_manual": list(manual),
            "status": ["ok", "ok", "ok", "no_face"],
        }
    )


def test_threshold_blanks_low_confidence_labels_only():
    detected = detected_table()
    result = apply_threshold(detected, 0.4)
    assert result["emotion_detected"].tolist() == ["happiness", "anger", "", ""]
    assert result["detect_status"].tolist() == ["ok", "ok", BELOW_THRESHOLD, "face: no_face"]
    assert result.loc[2, "confidence"] == 0.39  # the evidence is kept
    assert detected["emotion_detected"].tolist()[2] == "neutral", "the input is not modified"


def test_threshold_zero_keeps_every_label():
    assert apply_threshold(detected_table(), 0.0)["emotion_detected"].tolist() == ["happiness", "anger", "neutral", ""]


def test_threshold_works_on_a_csv_round_trip_without_status():
    text = detected_table().drop(columns="detect_status").to_csv(index=False)
    result = apply_threshold(pd.read_csv(io.StringIO(text)), 0.5)  # "" comes back as NaN here
    assert result["emotion_detected"].tolist() == ["happiness", "", "", ""]
    assert result["detect_status"].tolist() == ["ok", BELOW_THRESHOLD, BELOW_THRESHOLD, "not classified"]


def test_threshold_works_on_a_csv_read_without_na_conversion():
    text = detected_table().to_csv(index=False)
    result = apply_threshold(pd.read_csv(io.StringIO(text), keep_default_na=False), 0.4)  # confidence "" for d
    assert result["emotion_detected"].tolist() == ["happiness", "anger", "", ""]
    assert result["detect_status"].tolist() == ["ok", "ok", BELOW_THRESHOLD, "face: no_face"]


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_out_of_range_is_refused(threshold):
    with pytest.raises(LabelSourceError, match="between 0 and 1"):
        apply_threshold(detected_table(), threshold)


def test_detected_table_without_columns_is_refused():
    with pytest.raises(LabelSourceError, match="lacks column"):
        apply_threshold(detected_table().drop(columns="confidence"), 0.5)


def test_manual_source_gives_canonical_names_indexed_by_image():
    emotion = resolve_expressions(manifest(), None, "manual")
    assert emotion.name == "emotion" and emotion.index.name == "image_id"
    assert emotion.to_dict() == {"a": "happiness", "b": "anger", "c": "", "d": "sadness"}


def test_detected_source_applies_the_threshold():
    emotion = resolve_expressions(manifest(), detected_table(), "detected", threshold=0.4)
    assert emotion.to_dict() == {"a": "happiness", "b": "anger", "c": "", "d": ""}


def test_both_sources_cover_the_same_images():
    manual = resolve_expressions(manifest(), None, "manual")
    detected = resolve_expressions(manifest(), detected_table(), "detected", threshold=0.0)
    assert manual.index.tolist() == detected.index.tolist()


@pytest.mark.parametrize("table", [manifest(manual=("", "", "", "")), manifest().drop(columns="emotion_manual")])
def test_manual_without_manual_labels_is_a_clear_error(table):
    with pytest.raises(LabelSourceError, match=r"no manual expression labels.*label_sources: \[detected\]"):
        resolve_expressions(table, detected_table(), "manual")


def test_dataset_without_manual_labels_still_runs_with_detected():
    emotion = resolve_expressions(manifest(manual=("", "", "", "")), detected_table(), "detected", 0.0)
    assert (emotion != "").sum() == 3


def test_detected_without_a_table_is_a_clear_error():
    with pytest.raises(LabelSourceError, match="run the labels stage"):
        resolve_expressions(manifest(), None, "detected")


def test_detected_table_missing_usable_images_is_a_clear_error():
    partial = detected_table().iloc[[0, 2, 3]]  # "b" (status ok) is missing
    with pytest.raises(LabelSourceError, match="lacks 1 usable image.*b"):
        resolve_expressions(manifest(), partial, "detected")


def test_unknown_source_names_the_allowed_ones():
    with pytest.raises(LabelSourceError, match="manual, detected"):
        resolve_expressions(manifest(), detected_table(), "fer")
