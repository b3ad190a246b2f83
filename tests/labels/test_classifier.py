"""fer labelling: input handling in-process, real faces in a subprocess of its own."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from emoverify.labels import classifier
from emoverify.labels.classifier import (
    CROP_SIZE,
    DETECTABLE,
    DETECTED_COLUMNS,
    ExpressionError,
    FerUnavailableError,
    detect_expressions,
    load_face_bgr,
)

ROOT = Path(__file__).resolve().parents[2]


def test_fer_classes_map_onto_the_canonical_vocabulary():
    assert DETECTABLE == ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
    assert "contempt" not in DETECTABLE
    assert [c for c in DETECTED_COLUMNS if c.startswith("prob_")] == [f"prob_{e}" for e in DETECTABLE]


def test_faces_are_handed_to_fer_in_bgr_order_at_the_working_size(tmp_path):
    red = np.zeros((40, 30, 3), dtype=np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    bgr = load_face_bgr(tmp_path / "red.png")
    assert bgr.shape == (CROP_SIZE, CROP_SIZE, 3) and bgr.dtype == np.uint8
    assert (bgr[..., 2] == 255).all() and (bgr[..., :2] == 0).all()


def test_grayscale_faces_become_three_channels(tmp_path):
    Image.fromarray(np.full((48, 48), 90, dtype=np.uint8)).save(tmp_path / "gray.png")
    assert (load_face_bgr(tmp_path / "gray.png") == 90).all()


def test_manifest_without_aligned_paths_is_refused_before_loading_fer():
    with pytest.raises(ExpressionError, match="aligned_path"):
        detect_expressions(pd.DataFrame({"image_id": ["a"], "status": ["ok"]}))


def test_fer_that_cannot_load_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(classifier, "_preload_torch_stack", lambda: None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow now fails
    manifest = pd.DataFrame({"image_id": ["a"], "status": ["ok"], "aligned_path": ["a.png"]})
    with pytest.raises(FerUnavailableError, match="could not load fer.*requirements.txt"):
        detect_expressions(manifest)


# After labelling, the same process loads the torch stack (torchvision, facenet-pytorch),
# which segfaults when tensorflow came first: the labels step must survive it.
LABEL_THEN_LOAD_TORCH = """
import sys
from emoverify.labels.classifier import main
code = main(sys.argv[1:])
import facenet_pytorch, torchvision
import tensorflow as tf
assert not tf.config.get_visible_devices("GPU"), "tensorflow must stay off the GPU"
print("torch stack loaded after labelling")
sys.exit(code)
"""


@pytest.fixture
def real_faces(ckplus48_root, jaffe_root, tmp_path):
    ck = ckplus48_root
    rows = [
        ("ck_happy_1", ck / "happy" / "S010_006_00000015.png", "ok"),
        ("ck_happy_2", next((ck / "happy").glob("S011_*.png")), "ok"),
        ("ck_surprise", ck / "surprise" / "S010_002_00000014.png", "ok"),
        ("jaffe_happy", jaffe_root / "KA.HA1.29.tiff", "ok"),
        ("jaffe_anger", jaffe_root / "KA.AN1.39.tiff", "ok"),  # a palette-mode TIFF
        ("no_face", jaffe_root / "KA.AN2.40.tiff", "no_face"),
        ("broken", tmp_path / "broken.png", "ok"),
    ]
    (tmp_path / "broken.png").write_text("not an image")
    manifest = pd.DataFrame(rows, columns=["image_id", "aligned_path", "status"])
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    return tmp_path / "manifest.csv"


def test_labels_step_on_real_faces_in_its_own_process(real_faces, tmp_path):
    out = tmp_path / "labels" / "detected.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    done = subprocess.run(
        [sys.executable, "-c", LABEL_THEN_LOAD_TORCH, str(real_faces), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "torch stack loaded after labelling" in done.stdout

    detected = pd.read_csv(out, keep_default_na=False).set_index("image_id")
    assert list(detected.reset_index().columns) == list(DETECTED_COLUMNS)
    assert detected.loc[["ck_happy_1", "ck_happy_2", "ck_surprise"], "emotion_detected"].tolist() == [
        "happiness",
        "happiness",
        "surprise",
    ]
    classified = detected[detected["detect_status"] == "ok"]
    assert sorted(classified.index) == ["ck_happy_1", "ck_happy_2", "ck_surprise", "jaffe_anger", "jaffe_happy"]
    probabilities = classified[[f"prob_{e}" for e in DETECTABLE]].astype(float)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=0.05)  # fer rounds to two decimals
    assert (classified["confidence"].astype(float) == probabilities.max(axis=1)).all()
    assert set(classified["emotion_detected"]) <= set(DETECTABLE)
    assert detected.loc["no_face", "detect_status"] == "face: no_face"
    assert detected.loc["broken", "detect_status"].startswith("unreadable aligned image")
    assert detected.loc[["no_face", "broken"], "emotion_detected"].tolist() == ["", ""]


def test_progress_is_reported_after_every_image(monkeypatch, tmp_path):
    class FakeFer:
        def detect_emotions(self, bgr, face_rectangles):
            return [{"emotions": {name: 1.0 / 7 for name in classifier.FER_TO_CANONICAL}}]

    monkeypatch.setattr(classifier, "load_fer", lambda: FakeFer())
    Image.fromarray(np.zeros((48, 48, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    manifest = pd.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "status": ["ok", "no_face", "ok"],
            "aligned_path": [str(tmp_path / "a.png"), "", str(tmp_path / "a.png")],
        }
    )
    calls = []
    detected = detect_expressions(manifest, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert list(detected["detect_status"]) == ["ok", "face: no_face", "ok"]
