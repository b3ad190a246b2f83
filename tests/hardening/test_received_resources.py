"""The second bad-input matrix, resources: forked workers die with their job, and a huge image is detected
on a copy scaled down to a cap, its box and landmarks mapped back to the full image."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from hardening.inputs import gone

# a stand-in extract_features job: dlib's pool of two forked workers, each busy for two minutes
POOL_JOB = """
import os, sys, time
from emoverify.features import dlib_descriptor

def busy(paths, model=None, **options):
    open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
    time.sleep(120)

dlib_descriptor._describe_paths = busy
list(dlib_descriptor._map_batches(object(), [["a"], ["b"]], 2))
"""


def test_dlib_workers_die_when_their_job_is_killed(tmp_path):
    job = subprocess.Popen([sys.executable, "-c", textwrap.dedent(POOL_JOB), str(tmp_path)])
    workers = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = [int(name) for name in os.listdir(tmp_path)]
            time.sleep(0.1)
        assert len(workers) == 2, "the pool never started"
        job.send_signal(signal.SIGKILL)
        job.wait()
        assert all(gone(pid) for pid in workers), "a worker outlived its job"
    finally:
        job.kill()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class RecordingMTCNN:
    """One face in every image, at fixed coordinates of the image it is given; records the shapes seen."""

    def __init__(self, landmarks):
        self.landmarks = landmarks
        self.shapes = []

    def detect(self, batch, landmarks=True):
        self.shapes.append(batch.shape)
        box = np.r_[self.landmarks.min(axis=0) - 20, self.landmarks.max(axis=0) + 20]
        return [box[None]] * len(batch), [np.array([0.99])] * len(batch), [self.landmarks[None]] * len(batch)


def test_a_huge_image_is_detected_on_a_copy_within_the_cap_and_aligned_on_the_full_image(tmp_path, monkeypatch):
    from PIL import Image

    from emoverify.faces import detect
    from emoverify.faces.align import align_face, canonical_template
    from emoverify.faces.detect import DETECTION_MAX_SIDE, FaceSettings, prepare_faces

    width, height = 4000, 3000
    gradient = np.add.outer(np.arange(height) % 251, np.arange(width) % 241).astype(np.uint8)
    full = np.stack([gradient, gradient[::-1], 255 - gradient], axis=2)
    Image.fromarray(full).save(tmp_path / "huge.png")
    in_copy = canonical_template(64) * 3 + [500, 400]  # the face where the detector sees it, in the copy
    fake = RecordingMTCNN(in_copy)
    monkeypatch.setattr(detect, "get_mtcnn", lambda device: fake)
    table = pd.DataFrame(
        {"image_id": ["huge"], "path": [str(tmp_path / "huge.png")], "identity": ["KA"]}
        | {"emotion_manual": [""], "session": [""]}
    )
    row = prepare_faces(table, tmp_path / "out", FaceSettings(size=64)).iloc[0]
    assert row["status"] == "ok" and fake.shapes and max(max(shape[1:3]) for shape in fake.shapes) <= DETECTION_MAX_SIDE
    scale = DETECTION_MAX_SIDE / width
    expected = in_copy / scale  # mapped back to the full image
    found = np.array([[row[f"lm_x{i}"], row[f"lm_y{i}"]] for i in range(5)])
    np.testing.assert_allclose(found, expected, rtol=1e-6)
    assert row["box_x2"] == pytest.approx((in_copy[:, 0].max() + 20) / scale)
    crop = np.asarray(Image.open(row["aligned_path"]).convert("RGB"))
    np.testing.assert_array_equal(crop, align_face(full, expected, 64, 0.0))  # cut from the full resolution
