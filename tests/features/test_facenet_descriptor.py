"""facenet-pytorch's InceptionResnetV1 as an extractor, with a weight file the test writes itself (the released
weights are a download this machine cannot make)."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from emoverify.features import facenet_descriptor
from emoverify.features.extractors import extract
from emoverify.features.store import FeaturesError, FeaturesUnavailableError, load_features, save_features
from emoverify.model.networks import PRETRAINED_FILES


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def written_state():
    """A random InceptionResnetV1's weights with a classifier, as the released files have one."""
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    state = InceptionResnetV1(pretrained=None, classify=False).state_dict()
    state["logits.weight"] = torch.randn(7, 512)
    state["logits.bias"] = torch.randn(7)
    return state


def crops_manifest(folder, count=3):
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        path = folder / f"face{index}.png"
        Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)).save(path)
        rows.append({"image_id": f"face{index}", "status": "ok", "aligned_path": str(path)})
    rows.append({"image_id": "noface", "status": "no_face", "aligned_path": ""})
    return pd.DataFrame(rows)


def test_missing_weights_name_the_file_its_url_and_where_to_put_it(hub):
    with pytest.raises(FeaturesUnavailableError) as error:
        facenet_descriptor.load_model("facenet_vggface2")
    message = str(error.value)
    file_name = PRETRAINED_FILES["vggface2"]
    assert f"releases/download/v2.2.9/{file_name}" in message
    assert str(hub / file_name) in message and "TORCH_HOME" in message


def test_a_written_weight_file_loads_and_embeds_aligned_crops(hub, written_state, tmp_path):
    torch.save(written_state, hub / PRETRAINED_FILES["casia-webface"])
    model, name = facenet_descriptor.load_model("facenet_casia")
    assert name == PRETRAINED_FILES["casia-webface"]
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], written_state[key]) for key in loaded)
    manifest = crops_manifest(tmp_path)
    features = extract(manifest, "facenet_casia")
    assert features.image_ids.tolist() == ["face0", "face1", "face2"]  # the face-less row is skipped
    assert features.descriptors.shape == (3, 512)
    np.testing.assert_allclose(np.linalg.norm(features.descriptors, axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        direct = model(facenet_descriptor.standardized(manifest["aligned_path"][:3].tolist())).numpy()
    np.testing.assert_allclose(features.descriptors, direct, atol=1e-5)
    save_features(tmp_path / "facenet_casia.npz", features)
    again = load_features(tmp_path / "facenet_casia.npz")
    assert (again.extractor, again.chip_size, again.models) == ("facenet_casia", 160, (name,))


def test_standardisation_is_facenets_fixed_one_at_160_pixels(tmp_path):
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((48, 48, 3), 255, dtype=np.uint8)).save(path)
    batch = facenet_descriptor.standardized([str(path)])
    assert batch.shape == (1, 3, 160, 160)
    assert torch.allclose(batch, torch.full_like(batch, (255 - 127.5) / 128))


def test_a_file_of_another_network_is_refused_with_its_name(hub):
    torch.save({"conv.weight": torch.zeros(1)}, hub / PRETRAINED_FILES["vggface2"])
    with pytest.raises(FeaturesError, match="not an InceptionResnetV1 state dict"):
        facenet_descriptor.load_model("facenet_vggface2")


def test_an_unknown_extractor_is_named():
    with pytest.raises(ValueError, match="unknown extractor 'arcface'"):
        extract(pd.DataFrame(columns=["image_id", "status", "aligned_path"]), "arcface")
