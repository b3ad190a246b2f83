import pytest
import torch

from emoverify.model import networks
from emoverify.model.device import resolve_device


@pytest.mark.parametrize("geometry", networks.GEOMETRIES)
def test_compact_model_shapes_and_geometry(geometry):
    torch.manual_seed(0)
    model = networks.build_model("compact", embedding_dim=16, geometry=geometry, width=4).eval()
    out = model(torch.randn(3, 3, 64, 64))
    assert out.shape == (3, 16)
    norms = out.norm(dim=1)
    if geometry == "spherical":
        assert torch.allclose(norms, torch.ones(3), atol=1e-5)
    else:
        assert not torch.allclose(norms, torch.ones(3), atol=1e-2)


def test_inception_resnet_is_unnormalised_in_euclidean_geometry():
    model = networks.build_model("inception_resnet_v1", embedding_dim=8, geometry="euclidean").eval()
    out = model(torch.randn(2, 3, 96, 96))
    assert out.shape == (2, 8)
    assert not torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-2)


def test_missing_pretrained_weights_say_what_to_get(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(networks.MissingWeightsError, match="20180402-114759-vggface2.pt.*pretrained_path"):
        networks.build_model("inception_resnet_v1", embedding_dim=8, geometry="spherical", pretrained="vggface2")


def test_pretrained_weights_load_from_the_torch_cache(tmp_path, monkeypatch):
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(1)
    reference = InceptionResnetV1(pretrained=None, classify=False)
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / networks.PRETRAINED_FILES["vggface2"])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    model = networks.build_model("inception_resnet_v1", embedding_dim=8, geometry="spherical", pretrained="vggface2")
    assert torch.equal(model.backbone.trunk.conv2d_1a.conv.weight, reference.conv2d_1a.conv.weight)


def test_compact_backbone_refuses_pretrained():
    with pytest.raises(ValueError, match="pretrained: none"):
        networks.build_model("compact", embedding_dim=8, geometry="spherical", pretrained="vggface2")


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.parametrize("trainable", [0, 2, -1])
def test_fine_tuning_trains_only_the_last_trunk_blocks_and_the_head(trainable):
    torch.manual_seed(0)
    model = networks.build_model(
        "inception_resnet_v1", embedding_dim=8, geometry="spherical", trainable_blocks=trainable
    ).train()
    trunk = model.backbone.trunk
    blocks = networks.TRUNK_BLOCKS
    chosen = blocks if trainable < 0 else blocks[len(blocks) - trainable :] if trainable else ()
    trainable_names = {name for block in chosen for name in block}
    if trainable == 2:
        assert trainable_names == {"block8", "last_linear", "last_bn"}
    for name in (name for block in blocks for name in block):
        assert {p.requires_grad for p in getattr(trunk, name).parameters()} == {name in trainable_names}, name
    assert all(p.requires_grad for p in model.backbone.head.parameters())
    assert trunk.conv2d_1a.bn.training == (trainable < 0)  # a frozen block keeps its batch-norm statistics
    before = {key: value.clone() for key, value in trunk.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(4, 3, 96, 96)).sum().backward()
    optimizer.step()
    changed = {key.split(".")[0] for key, value in trunk.state_dict().items() if not torch.equal(before[key], value)}
    assert changed <= trainable_names and bool(changed) == bool(trainable_names)
