"""Agreement of detected with manual labels on hand-made labels with known answers."""

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from emoverify.labels.agreement import label_agreement, plot_confusion
from emoverify.labels.classifier import DETECTABLE
from emoverify.labels.sources import apply_threshold

# image: (manual, detected, confidence, detect_status)
CASES = {
    "a1": ("anger", "anger", 0.9, "ok"),
    "a2": ("anger", "happiness", 0.9, "ok"),
    "h1": ("happiness", "happiness", 0.9, "ok"),
    "h2": ("happiness", "happiness", 0.8, "ok"),
    "s1": ("sadness", "sadness", 0.7, "ok"),
    "s2": ("sadness", "anger", 0.6, "ok"),
    "c1": ("contempt", "anger", 0.9, "ok"),  # fer has no contempt
    "n1": ("neutral", "neutral", 0.3, "ok"),  # below the 0.5 threshold
    "f1": ("fear", "", np.nan, "face: no_face"),  # not classified
    "x1": ("", "happiness", 0.9, "ok"),  # no manual label
}


def inputs(threshold=0.5):
    manual = pd.Series({image: case[0] for image, case in CASES.items()})
    manual["d1"] = "disgust"  # absent from the detected table
    detected = pd.DataFrame(
        [(image, *case[1:]) for image, case in CASES.items()],
        columns=["image_id", "emotion_detected", "confidence", "detect_status"],
    )
    return manual, apply_threshold(detected, threshold)


def test_counts_accuracy_and_kappa_match_a_hand_computation():
    metrics, _ = label_agreement(*inputs())
    assert metrics["n_manual_labelled"] == 10
    assert (metrics["n_not_classified"], metrics["n_below_threshold"]) == (2, 1)
    assert (metrics["n_manual_only_class"], metrics["n_compared"], metrics["n_correct"]) == (1, 6, 4)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # observed 4/6; chance from marginals manual (A2,H2,S2) x detected (A2,H3,S1) = 12/36
    assert metrics["cohen_kappa"] == pytest.approx((4 / 6 - 1 / 3) / (1 - 1 / 3))
    assert metrics["accuracy_including_unmappable"] == pytest.approx(4 / 7)
    assert metrics["manual_only_classes"] == ["contempt"]
    assert "fer cannot output" in metrics["counting_rule"]


def test_lower_threshold_brings_the_image_back_into_the_comparison():
    metrics, _ = label_agreement(*inputs(threshold=0.0))
    assert (metrics["n_below_threshold"], metrics["n_compared"], metrics["n_correct"]) == (0, 7, 5)


def test_confusion_rows_are_manual_columns_are_detected():
    _, confusion = label_agreement(*inputs())
    assert confusion.index.tolist() == ["anger", "contempt", "happiness", "sadness"]
    assert confusion.columns.tolist() == list(DETECTABLE)
    assert confusion.loc["anger", "happiness"] == 1 and confusion.loc["sadness", "anger"] == 1
    assert confusion.loc["contempt", "anger"] == 1
    assert confusion.loc["happiness", "happiness"] == 2
    assert confusion.to_numpy().sum() == 7  # compared + manual-only-class images


def test_perfect_agreement_has_kappa_one():
    labels = ["anger", "happiness", "sadness", "surprise"] * 3
    manual = pd.Series(labels, index=[f"i{k}" for k in range(12)])
    detected = pd.DataFrame({"image_id": manual.index, "emotion_detected": labels, "confidence": 1.0})
    metrics, confusion = label_agreement(manual, detected)
    assert metrics["accuracy"] == 1.0 and metrics["cohen_kappa"] == pytest.approx(1.0)
    assert (np.diag(confusion.loc[:, confusion.index].to_numpy()) == 3).all()


def test_nothing_to_compare_gives_nan_not_a_crash():
    manual = pd.Series({"a": "contempt"})
    detected = pd.DataFrame({"image_id": ["a"], "emotion_detected": [""], "confidence": [np.nan]})
    metrics, confusion = label_agreement(manual, detected)
    assert metrics["n_compared"] == 0 and math.isnan(metrics["accuracy"]) and math.isnan(metrics["cohen_kappa"])
    assert confusion.empty


def test_plot_confusion_writes_a_readable_png(tmp_path):
    _, confusion = label_agreement(*inputs())
    path = plot_confusion(confusion, tmp_path / "figures" / "confusion.png", title="fer vs manual")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= 600 and image.height >= 400
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10, "the figure is not blank"
