"""The faces stage: every image accounted for, MTCNN batched by size, faces aligned."""

import numpy as np
import pandas as pd
import pytest
import torch  # noqa: F401  (torch first: importing tensorflow before it crashes the process)
from PIL import Image

from emoverify.data.adapters import load_dataset
from emoverify.data.imageio import read_rgb
from emoverify.faces import detect
from emoverify.faces.align import apply_transform, canonical_template
from emoverify.faces.detect import MANIFEST_COLUMNS, FacesError, FaceSettings, NoUsableFacesError, prepare_faces


def table_for(paths, ids=None) -> pd.DataFrame:
    ids = ids or [f"img{i}" for i in range(len(paths))]
    return pd.DataFrame(
        {"image_id": ids, "path": [str(p) for p in paths], "identity": "p", "emotion_manual": "", "session": ""}
    )


@pytest.fixture
def demo_face(small_demo):
    """One drawn face as an RGB array (160 x 160)."""
    root, table = small_demo
    return np.asarray(Image.open(root / table["path"].iloc[4]).convert("RGB"))


# ---------------------------------------------------------------- real MTCNN


def test_jaffe_faces_are_found_and_aligned(jaffe_root, tmp_path):
    table = load_dataset("jaffe", jaffe_root).iloc[[0, 1, 60, 150]]  # KA.* are palette TIFFs
    manifest = prepare_faces(table, tmp_path)
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    assert list(manifest["image_id"]) == list(table["image_id"])
    assert (manifest["status"] == "ok").all(), manifest[["image_id", "status", "reason_detail"]]
    assert (manifest["det_prob"] > 0.9).all()
    for row in manifest.itertuples():
        assert row.box_x1 < row.lm_x0 < row.lm_x1 < row.box_x2  # eyes inside the box, left before right
        assert row.box_y1 < row.lm_y0 < row.lm_y3 < row.box_y2  # eyes above the mouth
        with Image.open(row.aligned_path) as crop:
            assert crop.size == (112, 112)


def test_aligned_crop_puts_the_face_on_the_template(demo_face, tmp_path):
    Image.fromarray(demo_face).save(tmp_path / "face.png")
    manifest = prepare_faces(table_for([tmp_path / "face.png"]), tmp_path / "out", FaceSettings(size=160, margin=0.4))
    crop = np.asarray(Image.open(manifest["aligned_path"].iloc[0]))
    _, probs, points = detect.get_mtcnn("cpu").detect(crop[None], landmarks=True)
    assert probs[0] is not None and probs[0][0] > 0.9
    found = points[0][int(np.argmax(probs[0]))]
    assert np.abs(found - canonical_template(160, margin=0.4)).max() < 6  # pixels, in a 160 px crop


def test_every_row_gets_a_status(demo_face, tmp_path):
    Image.fromarray(demo_face).save(tmp_path / "good.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    Image.new("RGB", (160, 160), (128, 128, 128)).save(tmp_path / "blank.png")
    paths = [tmp_path / "good.png", tmp_path / "corrupt.jpg", tmp_path / "absent.png", tmp_path / "blank.png"]
    manifest = prepare_faces(table_for(paths), tmp_path / "out")
    assert list(manifest["status"]) == ["ok", "unreadable", "missing", "no_face"]
    assert manifest["reason_detail"].iloc[1] and manifest["aligned_path"].iloc[1] == ""
    assert manifest["n_faces"].iloc[3] == 0 and np.isnan(manifest["det_prob"].iloc[3])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png"]
    assert detect.status_summary(manifest).to_dict("records") == [
        {"status": "ok", "count": 1},
        {"status": "missing", "count": 1},
        {"status": "unreadable", "count": 1},
        {"status": "no_face", "count": 1},
    ]


def test_uniform_noise_has_no_face(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    assert prepare_faces(table_for([tmp_path / "noise.png"]), tmp_path / "out")["status"].iloc[0] == "no_face"


@pytest.mark.parametrize("kind", ["extensionless_gif", "sixteen_bit", "rgba", "palette_tiff"])
def test_unusual_files_with_faces(kind, demo_face, tmp_path):
    image = Image.fromarray(demo_face)
    path = (
        tmp_path
        / {"extensionless_gif": "face", "sixteen_bit": "face.png", "rgba": "face.png", "palette_tiff": "face.tif"}[kind]
    )
    if kind == "extensionless_gif":
        image.save(path, format="GIF")
    elif kind == "sixteen_bit":
        Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257).save(path)
        assert Image.open(path).mode.startswith("I;16")
    elif kind == "rgba":
        image.convert("RGBA").save(path)
    else:
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    manifest = prepare_faces(table_for([path]), tmp_path / "out")
    assert manifest["status"].iloc[0] == "ok", manifest["reason_detail"].iloc[0]


def test_small_face_is_found_only_by_the_upscaled_retry(demo_face, tmp_path):
    Image.fromarray(demo_face).resize((24, 24), Image.Resampling.LANCZOS).save(tmp_path / "small.png")
    table = table_for([tmp_path / "small.png"])
    assert prepare_faces(table, tmp_path / "a", FaceSettings(upscale_retry=False))["status"].iloc[0] == "no_face"
    retried = prepare_faces(table, tmp_path / "b", FaceSettings(upscale_retry=True)).iloc[0]
    assert retried["status"] == "ok"
    landmarks = retried[list(detect.LANDMARK_COLUMNS)].to_numpy(dtype=float)
    assert ((landmarks > 2) & (landmarks < 22)).all()  # mapped back to the 24 px image, not the enlarged copy


def test_tight_crop_is_found_only_by_the_padded_retry(jaffe_root, tmp_path):
    image = Image.open(jaffe_root / "KA.AN1.39.tiff").convert("RGB")
    first = prepare_faces(table_for([jaffe_root / "KA.AN1.39.tiff"]), tmp_path / "a").iloc[0]
    x1, y1, x2, y2 = first[["box_x1", "box_y1", "box_x2", "box_y2"]].to_numpy(dtype=float)
    inset_x, inset_y = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
    image.crop((x1 + inset_x, y1 + inset_y, x2 - inset_x, y2 - inset_y)).resize((80, 80)).save(tmp_path / "tight.png")
    table = table_for([tmp_path / "tight.png"])
    assert prepare_faces(table, tmp_path / "b", FaceSettings(upscale_retry=False))["status"].iloc[0] == "no_face"
    retried = prepare_faces(table, tmp_path / "c").iloc[0]
    assert retried["status"] == "ok" and retried["det_prob"] > 0.9


def test_low_probability_triggers_the_retry_and_the_stronger_detection_wins(scripted, tmp_path):
    fake = scripted({1: [face_at(0.5, 10, 10)], 90: [face_at(0.99, 100, 100)]})
    row = prepare_faces(table_for(scripted_images(tmp_path, [1])), tmp_path / "out").iloc[0]
    assert len(fake.batches) == 2 and fake.batches[1][1] > 128  # the retry ran on an enlarged copy
    assert row["status"] == "ok" and row["det_prob"] == pytest.approx(0.99)


def test_detector_none_resizes_the_whole_image(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 256, (48, 48), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "crop.png")
    manifest = prepare_faces(
        table_for([tmp_path / "crop.png"]), tmp_path / "out", FaceSettings(detector="none", size=96)
    )
    row = manifest.iloc[0]
    assert row["status"] == "ok" and np.isnan(row["det_prob"])
    assert (row["box_x1"], row["box_y1"], row["box_x2"], row["box_y2"]) == (0, 0, 48, 48)
    expected = Image.fromarray(pixels).convert("RGB").resize((96, 96), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(Image.open(row["aligned_path"])), np.asarray(expected))


def test_ckplus48_with_detector_none(ckplus48_root, tmp_path):
    table = load_dataset("ckplus48", ckplus48_root).iloc[::200]
    manifest = prepare_faces(table, tmp_path, FaceSettings(detector="none"))
    assert (manifest["status"] == "ok").all() and len(manifest) == len(table)


# ---------------------------------------------------------------- controlled detections (a stand-in MTCNN)


class ScriptedMTCNN:
    """Answers ``detect`` from a script keyed by each image's top-left pixel value (no face for other keys)."""

    def __init__(self, script):
        self.script = script
        self.batches = []

    def detect(self, batch, landmarks=True):
        assert landmarks
        self.batches.append(batch.shape)
        answers = [self.script.get(int(image[0, 0, 0]), []) for image in batch]
        if any(answer == "raise" for answer in answers):
            raise RuntimeError("simulated MTCNN failure")
        boxes = [np.array([f[1] for f in faces_]) if faces_ else None for faces_ in answers]
        probs = [np.array([f[0] for f in faces_]) if faces_ else np.array([None]) for faces_ in answers]
        points = [np.array([f[2] for f in faces_]) if faces_ else None for faces_ in answers]
        return boxes, probs, points


def face_at(prob, dx=0.0, dy=0.0):
    """A scripted face: its template landmarks (64 px scale) shifted by (dx, dy), and a box around them."""
    landmarks = canonical_template(64) + [dx, dy]
    return prob, np.array([dx, dy, dx + 64, dy + 64], dtype=float), landmarks


def scripted_images(tmp_path, keys, size=(128, 128)):
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, key in enumerate(keys):
        pixels = np.full((*size[::-1], 3), 90, dtype=np.uint8)
        pixels[0, 0] = key
        paths.append(tmp_path / f"s{index}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


@pytest.fixture
def scripted(monkeypatch):
    def install(script):
        fake = ScriptedMTCNN(script)
        monkeypatch.setattr(detect, "get_mtcnn", lambda device: fake)
        return fake

    return install


def test_one_face_above_the_threshold_is_taken_and_all_faces_are_counted(scripted, tmp_path):
    scripted({1: [face_at(0.5, 0, 0), face_at(0.99, 60, 60), face_at(0.7, 30, 0)]})
    row = prepare_faces(table_for(scripted_images(tmp_path, [1])), tmp_path / "out").iloc[0]
    assert row["n_faces"] == 3 and row["det_prob"] == pytest.approx(0.99)
    assert row["box_x1"] == 60 and row["status"] == "ok"
    assert row["face_taken"] == "the only face above min_probability (3 found)"


# two faces above the threshold: a small one at the centre, a larger one off centre (image 128 x 128)
TWO_FACES = [face_at(0.98, 32, 32), (0.99, np.array([0.0, 0.0, 100.0, 100.0]), canonical_template(100))]


@pytest.mark.parametrize(
    ("multiple", "status", "box_x1", "taken"),
    [
        ("reject", "several_faces", 32, "none: 2 faces above min_probability (multiple: reject)"),
        ("largest", "ok", 0, "the largest of 2 faces above min_probability"),
        ("central", "ok", 32, "the most central of 2 faces above min_probability"),
    ],
)
def test_several_faces_follow_the_policy(scripted, tmp_path, multiple, status, box_x1, taken):
    scripted({1: TWO_FACES})
    row = prepare_faces(
        table_for(scripted_images(tmp_path, [1])), tmp_path / "out", FaceSettings(multiple=multiple)
    ).iloc[0]
    assert (row["status"], row["box_x1"], row["face_taken"], row["n_faces"]) == (status, box_x1, taken, 2)
    assert (row["aligned_path"] == "") == (status != "ok")
    if status == "several_faces":
        assert "faces.multiple" in row["reason_detail"]


def test_rejecting_several_faces_is_the_default_and_counted(scripted, tmp_path):
    scripted({1: TWO_FACES, 2: [face_at(0.99, 20, 20)]})
    manifest = prepare_faces(table_for(scripted_images(tmp_path, [1, 2])), tmp_path / "out")
    assert list(manifest["status"]) == ["several_faces", "ok"]
    summary = detect.status_summary(manifest)
    assert dict(zip(summary["status"], summary["count"])) == {"ok": 1, "several_faces": 1}


def test_low_probability_keeps_the_detection_but_no_crop(scripted, tmp_path):
    scripted({1: [face_at(0.8, 10, 10)]})
    row = prepare_faces(
        table_for(scripted_images(tmp_path, [1])), tmp_path / "out", FaceSettings(min_probability=0.9)
    ).iloc[0]
    assert row["status"] == "low_probability" and row["aligned_path"] == ""
    assert row["box_x1"] == 10 and row["lm_x0"] == pytest.approx(canonical_template(64)[0, 0] + 10)
    assert "0.800" in row["reason_detail"]


def test_degenerate_landmarks_fail_alignment(scripted, tmp_path):
    scripted({1: [(0.99, np.array([0, 0, 10, 10.0]), np.zeros((5, 2)))]})
    row = prepare_faces(table_for(scripted_images(tmp_path, [1])), tmp_path / "out").iloc[0]
    assert row["status"] == "align_failed" and "one point" in row["reason_detail"]


def test_batches_hold_one_image_size_and_at_most_batch_size(scripted, tmp_path):
    fake = scripted({1: [face_at(0.99, 20, 20)]})
    small = scripted_images(tmp_path / "small", [1] * 5, size=(128, 128))
    large = scripted_images(tmp_path / "large", [1] * 3, size=(150, 140))
    interleaved = [p for pair in zip(small, large) for p in pair] + small[3:]
    manifest = prepare_faces(table_for(interleaved), tmp_path / "out", FaceSettings(batch_size=2, upscale_retry=False))
    assert (manifest["status"] == "ok").all()
    assert all(shape[0] <= 2 for shape in fake.batches)
    assert sorted(shape[0] for shape in fake.batches if shape[1:3] == (128, 128)) == [1, 2, 2]
    assert sorted(shape[0] for shape in fake.batches if shape[1:3] == (140, 150)) == [1, 2]


def test_a_failing_image_does_not_sink_its_batch(scripted, tmp_path):
    scripted({1: [face_at(0.99, 20, 20)], 2: "raise"})
    manifest = prepare_faces(
        table_for(scripted_images(tmp_path, [1, 2, 1])), tmp_path / "out", FaceSettings(batch_size=8)
    )
    assert list(manifest["status"]) == ["ok", "detector_error", "ok"]
    assert "simulated MTCNN failure" in manifest["reason_detail"].iloc[1]


def test_crop_is_the_landmark_alignment(scripted, tmp_path):
    scripted({1: [face_at(0.99, 20, 30)]})
    row = prepare_faces(table_for(scripted_images(tmp_path, [1])), tmp_path / "out", FaceSettings(size=64)).iloc[0]
    # the scripted landmarks are the 64 px template shifted by (20, 30): the crop is the image shifted back
    landmarks = row[list(detect.LANDMARK_COLUMNS)].to_numpy(dtype=float).reshape(5, 2)
    np.testing.assert_allclose(
        apply_transform(np.array([[1, 0, -20], [0, 1, -30.0]]), landmarks), canonical_template(64)
    )
    crop = np.asarray(Image.open(row["aligned_path"]))
    assert crop.shape == (64, 64, 3) and (crop[5:, 5:] == 90).all()


# ---------------------------------------------------------------- summary, errors


def test_require_usable(tmp_path):
    manifest = pd.DataFrame({"status": ["no_face", "no_face", "unreadable"]})
    with pytest.raises(NoUsableFacesError, match="none of the 3 images.*no_face: 2.*detector: none"):
        detect.require_usable(manifest)
    assert detect.require_usable(pd.DataFrame({"status": ["ok", "no_face", "ok"]})) == 2


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(detector="dlib"), "unknown detector"),
        (dict(size=4), "at least 16"),
        (dict(margin=-1), "margin"),
        (dict(batch_size=0), "batch_size"),
        (dict(min_probability=2), "min_probability"),
        (dict(multiple="first"), "multiple-faces policy"),
    ],
)
def test_bad_settings_are_refused_when_built(change, message):
    with pytest.raises(FacesError, match=message):
        FaceSettings(**change)


def test_settings_from_the_config_section_name_an_unknown_key():
    assert FaceSettings.from_config({"detector": "none", "size": 48}) == FaceSettings(detector="none", size=48)
    with pytest.raises(FacesError, match="do not know sise"):
        FaceSettings.from_config({"sise": 48})


def test_bad_device(tmp_path):
    with pytest.raises(FacesError, match="unknown device"):
        prepare_faces(table_for([tmp_path / "x.png"]), tmp_path / "out", device="tpu")


def test_table_problems(tmp_path):
    with pytest.raises(FacesError, match="unique"):
        prepare_faces(table_for([tmp_path / "a.png", tmp_path / "b.png"], ids=["x", "x"]), tmp_path / "out")
    with pytest.raises(FacesError, match="lacks columns.*identity"):
        prepare_faces(table_for([tmp_path / "a.png"]).drop(columns="identity"), tmp_path / "out")


def test_device_resolution(tmp_path):
    assert detect._device_name("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(FacesError, match="no CUDA"):
            prepare_faces(table_for([tmp_path / "x.png"]), tmp_path / "out", device="cuda")


def test_progress_counts_every_image_once_unreadable_ones_included(scripted, tmp_path):
    scripted({1: [face_at(0.99, 20, 20)]})
    paths = scripted_images(tmp_path, [1, 1, 1])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    calls = []
    prepare_faces(
        table_for([*paths, tmp_path / "broken.png"]),
        tmp_path / "out",
        FaceSettings(batch_size=2),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_detector_none_reports_progress(tmp_path):
    Image.fromarray(np.zeros((48, 48), dtype=np.uint8)).save(tmp_path / "crop.png")
    calls = []
    prepare_faces(
        table_for([tmp_path / "crop.png"] * 1),
        tmp_path / "out",
        FaceSettings(detector="none"),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(0, 1), (1, 1)]


def two_jaffe_faces(jaffe_root, tmp_path):
    """KA (left) and KL (right) side by side in one image, as a dataset row labelled as KA."""
    left, right = (read_rgb(jaffe_root / name) for name in ("KA.AN1.39.tiff", "KL.AN1.167.tiff"))
    both = np.concatenate([left, right], axis=1)
    path = tmp_path / "two.png"
    Image.fromarray(both).save(path)
    return table_for([path]), both.shape[1]


def test_two_real_faces_side_by_side_are_rejected_by_default(jaffe_root, tmp_path):
    table, width = two_jaffe_faces(jaffe_root, tmp_path)
    row = prepare_faces(table, tmp_path / "reject").iloc[0]
    assert row["status"] == "several_faces" and row["n_faces"] >= 2 and row["aligned_path"] == ""
    assert row["face_taken"].startswith("none: 2 faces")
    central = prepare_faces(table, tmp_path / "central", FaceSettings(multiple="central")).iloc[0]
    assert central["status"] == "ok" and central["face_taken"].startswith("the most central of 2")


def test_the_face_cache_detects_only_new_or_changed_content(scripted, tmp_path):
    from emoverify.data.integrity import add_content_hashes

    fake = scripted({1: [face_at(0.99, 20, 20)], 2: [face_at(0.99, 10, 10)], 3: []})
    paths = scripted_images(tmp_path / "images", [1, 2, 3])
    table = add_content_hashes(table_for(paths))
    first = prepare_faces(table, tmp_path / "out1", cache_dir=tmp_path / "cache")
    assert len(fake.batches) >= 1
    fake.batches.clear()
    again = prepare_faces(table, tmp_path / "out2", cache_dir=tmp_path / "cache")
    assert fake.batches == [], "nothing detected when every content is cached"
    columns = [c for c in again.columns if c != "aligned_path"]
    pd.testing.assert_frame_equal(first[columns], again[columns])
    assert Image.open(again["aligned_path"][0]).tobytes() == Image.open(first["aligned_path"][0]).tobytes()
    scripted_images(tmp_path / "images", [2, 2, 3])  # the first image now shows what the second shows
    changed = prepare_faces(add_content_hashes(table_for(paths)), tmp_path / "out3", cache_dir=tmp_path / "cache")
    assert fake.batches == [], "new content equal to cached content is a cache hit too"
    assert changed["box_x1"][0] == 10
    scripted_images(tmp_path / "images", [1, 2, 7])  # a changed third image: the only one detected
    prepare_faces(add_content_hashes(table_for(paths)), tmp_path / "out4", cache_dir=tmp_path / "cache")
    assert sum(shape[0] for shape in fake.batches if shape[1] == 128) == 1
    other = prepare_faces(table, tmp_path / "out5", FaceSettings(size=64), cache_dir=tmp_path / "cache")
    assert other["status"].tolist() == first["status"].tolist() and len(fake.batches) > 1, "new settings detect"
