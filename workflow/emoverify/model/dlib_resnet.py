"""dlib's face recognition ResNet in torch, with the weights of ``dlib_face_recognition_resnet_model_v1.dat``.

The wiring is dlib's ``examples/dnn_face_recognition_ex.cpp``: a 7 x 7 stride-2 convolution and a 3 x 3 max
pool, then five levels of residual blocks (dlib's alevel4 at the bottom to alevel0 at the top), an average over
the image and a 256 -> 128 fc layer without bias. Every convolution is followed by an ``affine_`` layer, a
per-channel scale and shift frozen from batch normalisation: here buffers, never trained.

Fine-tuning trains a top part of the network (:data:`LEVELS`): ``level0`` is alevel0 (the last residual level,
before the average pooling) and the fc layer, ``level1`` adds alevel1, ``level2`` adds alevel2, ``all`` is the
whole network. :meth:`DlibResNet.frozen_part` maps the model input to a level's input (the activations a
pipeline caches once) and :meth:`DlibResNet.trainable_part` maps those to the descriptor.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from emoverify.model.dlib_dat import (
    DESCRIPTOR_SIZE,
    INPUT_SIZE,
    LEVELS_TOP_DOWN,
    STEM_FILTERS,
    DlibNetwork,
    read_network,
)
from emoverify.model.embedding import to_model_input
from emoverify.unavailable import FeaturesUnavailableError

NETWORK_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_PACKAGE = "face_recognition_models"
INSTALL_HINT = "pip install face-recognition-models (the package that bundles dlib's model files)"
CHANNEL_MEANS = (122.782, 117.001, 104.298)  # R, G, B: what dlib subtracts before dividing by 256
PIXEL_SCALE = 256.0

LEVELS = ("level0", "level1", "level2", "all")
# C x H x W of the activations entering each level's trainable part (``all``: the model input itself)
LEVEL_INPUT_SHAPES = {
    "level0": (256, 4, 4),
    "level1": (128, 8, 8),
    "level2": (64, 17, 17),
    "all": (3, INPUT_SIZE, INPUT_SIZE),
}
# the dlib levels each fine-tune level trains (besides the fc layer; ``all`` trains everything)
TRAINED_LEVELS = {"level0": ("alevel0",), "level1": ("alevel1", "alevel0"), "level2": ("alevel2", "alevel1", "alevel0")}
DLIB_PARAMETER_COUNT = 5_614_592  # convolutions, affine scales and shifts, fc: what the .dat stores


class Affine(nn.Module):
    """dlib's ``affine_``: y = scale * x + shift per channel, frozen (buffers, not parameters)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale[:, None, None] + self.shift[:, None, None]


def add_zero_padded(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum takes the larger size on every axis (channels, rows, columns); the smaller
    operand is zero-padded at the end of each."""
    size = [max(a, b) for a, b in zip(first.shape[1:], second.shape[1:])]

    def padded(x: torch.Tensor) -> torch.Tensor:
        channels, rows, columns = (target - have for target, have in zip(size, x.shape[1:]))
        return F.pad(x, (0, columns, 0, rows, 0, channels)) if channels or rows or columns else x

    return padded(first) + padded(second)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Conv2d:
    # dlib pads kernel // 2 at stride 1 and not at all otherwise
    return nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2 if stride == 1 else 0)


class ResidualBlock(nn.Module):
    """dlib's ``ares`` (``down`` False) or ``ares_down``: two 3 x 3 convolutions with their affine layers, the
    first strided by 2 when down-sampling, added to the input (2 x 2 average-pooled when down-sampling)."""

    def __init__(self, in_channels: int, channels: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = _conv(in_channels, channels, 3, 2 if down else 1)
        self.affine1 = Affine(channels)
        self.conv2 = _conv(channels, channels, 3, 1)
        self.affine2 = Affine(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_zero_padded(y, shortcut))


class InputNormalisation(nn.Module):
    """The pipeline's model input ([-1, 1], from uint8 pixels) to dlib's (pixel - channel mean) / 256."""

    def __init__(self, means: tuple[float, float, float] = CHANNEL_MEANS):
        super().__init__()
        self.register_buffer("means", torch.tensor(means, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = (x + 1.0) * 127.5
        return (pixels - self.means[:, None, None]) / PIXEL_SCALE


class Stem(nn.Module):
    """7 x 7 stride-2 convolution, affine, relu, 3 x 3 stride-2 max pool: 3 x 150 x 150 -> 32 x 35 x 35."""

    def __init__(self):
        super().__init__()
        self.conv = _conv(3, STEM_FILTERS, 7, 2)
        self.affine = Affine(STEM_FILTERS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)


class DescriptorHead(nn.Module):
    """The average over the image and the fc layer (no bias): 256 x H x W -> the 128-d descriptor."""

    def __init__(self, channels: int = 256):
        super().__init__()
        self.fc = nn.Linear(channels, DESCRIPTOR_SIZE, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3)))


def _level(in_channels: int, channels: int, repeats: int, down: bool) -> nn.Sequential:
    blocks = [ResidualBlock(in_channels, channels, down)] if down else []
    blocks += [ResidualBlock(channels, channels, False) for _ in range(repeats)]
    return nn.Sequential(*blocks)


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown fine-tune level {level!r}: choose one of {', '.join(LEVELS)}")
    return level


class DlibResNet(nn.Module):
    """dlib's face recognition network; ``forward`` maps model input (N x 3 x 150 x 150 in [-1, 1]) to dlib's
    unnormalised 128-d descriptor. Build it with :meth:`from_dat`; the constructor alone leaves torch's
    random initialisation."""

    def __init__(self, means: tuple[float, float, float] = CHANNEL_MEANS):
        super().__init__()
        self.normalise = InputNormalisation(means)
        self.stem = Stem()
        in_channels = STEM_FILTERS
        levels = {}
        for name, channels, repeats, down in reversed(LEVELS_TOP_DOWN):  # bottom-up: alevel4 first
            levels[name] = _level(in_channels, channels, repeats, down)
            in_channels = channels
        self.levels = nn.ModuleDict(levels)
        self.head = DescriptorHead(in_channels)

    @classmethod
    def from_dat(cls, path: str | Path | None = None) -> DlibResNet:
        """The network with the weights of dlib's .dat (None: the one face-recognition-models installs)."""
        path = Path(path) if path is not None else default_network_file()
        if not path.is_file():
            raise FeaturesUnavailableError(f"dlib's network file {path} is missing: {INSTALL_HINT}")
        stat = path.stat()
        network = parsed_network(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        model = cls(tuple(float(mean) for mean in network.input_means))
        model.load_network(network)
        return model

    def load_network(self, network: DlibNetwork) -> None:
        """Copy a parsed .dat's weights in (its layers bottom-up are this module's in forward order)."""
        convs = [module for module in self.modules() if isinstance(module, nn.Conv2d)]
        affines = [module for module in self.modules() if isinstance(module, Affine)]
        stored_convs, stored_affines = network.of_kind("con"), network.of_kind("affine")
        if len(convs) != len(stored_convs) or len(affines) != len(stored_affines):
            raise ValueError(
                f"{network.path}: {len(stored_convs)} convolutions and {len(stored_affines)} affine layers, "
                f"the network has {len(convs)} and {len(affines)}"
            )
        with torch.no_grad():
            for conv, layer in zip(convs, stored_convs):
                _copy(conv.weight, layer.arrays["filters"], network.path)
                _copy(conv.bias, layer.arrays["biases"], network.path)
            for affine, layer in zip(affines, stored_affines):
                _copy(affine.scale, layer.arrays["gamma"], network.path)
                _copy(affine.shift, layer.arrays["beta"], network.path)
            _copy(self.head.fc.weight, network.of_kind("fc")[0].arrays["weights"].T, network.path)

    def _parts(self) -> list[tuple[str, nn.Module]]:
        """Every stage in forward order, named."""
        return [("normalise", self.normalise), ("stem", self.stem), *self.levels.items(), ("head", self.head)]

    def frozen_part(self, level: str) -> nn.Module:
        """Model input -> the input of ``level``'s trainable part (``all``: the identity)."""
        check_level(level)
        if level == "all":
            return nn.Identity()
        first_trained = TRAINED_LEVELS[level][0]
        parts = self._parts()
        return nn.Sequential(*(module for _, module in parts[: [name for name, _ in parts].index(first_trained)]))

    def trainable_part(self, level: str) -> nn.Module:
        """The input of ``level`` -> the descriptor; its parameters are the convolutions of the trained levels
        and the fc layer (shared with this model: training it trains the model)."""
        check_level(level)
        if level == "all":
            return nn.Sequential(*(module for _, module in self._parts()))
        return nn.Sequential(*(self.levels[name] for name in TRAINED_LEVELS[level]), self.head)

    def freeze_below(self, level: str) -> list[nn.Parameter]:
        """Set requires_grad on ``level``'s trainable part only; returns those parameters."""
        trainable = list(self.trainable_part(level).parameters())
        kept = {id(parameter) for parameter in trainable}
        for parameter in self.parameters():
            parameter.requires_grad_(id(parameter) in kept)
        return trainable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _, module in self._parts():
            x = module(x)
        return x

    def dlib_parameter_count(self) -> int:
        """The weights dlib stores: trainable parameters (convolutions, fc) and the frozen affine buffers."""
        affines = sum(
            module.scale.numel() + module.shift.numel() for module in self.modules() if isinstance(module, Affine)
        )
        return sum(parameter.numel() for parameter in self.parameters()) + affines


@functools.lru_cache(maxsize=2)
def parsed_network(path: str, modified_ns: int, size: int) -> DlibNetwork:
    """The parsed .dat, once per process while the file is unchanged (a job that builds several networks reads
    it once; each network copies the weights, so none shares a tensor with another)."""
    return read_network(path)


def _copy(target: torch.Tensor, values, path: Path) -> None:
    source = torch.as_tensor(values, dtype=torch.float32)
    if source.shape != target.shape:
        raise ValueError(f"{path}: a stored tensor of shape {tuple(source.shape)} where {tuple(target.shape)} goes")
    target.copy_(source)


def default_network_file() -> Path:
    """The .dat the face-recognition-models package installs, found without importing the package (its
    __init__ imports pkg_resources); FeaturesUnavailableError naming the install when it is absent."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FeaturesUnavailableError(f"dlib's network file {NETWORK_FILE} is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / NETWORK_FILE


def check_chips(chips: torch.Tensor) -> None:
    expected = (3, INPUT_SIZE, INPUT_SIZE)
    if chips.dtype != torch.uint8 or chips.dim() != 4 or tuple(chips.shape[1:]) != expected:
        raise ValueError(
            f"dlib_resnet takes uint8 chips of shape N x {' x '.join(map(str, expected))}, got "
            f"{chips.dtype} {tuple(chips.shape)}: cut them with DlibDescriptor.chip (150 px, padding 0.25)"
        )


@torch.no_grad()
def activations(
    model: DlibResNet, chips: torch.Tensor, level: str, batch_size: int = 64, flip: bool = False
) -> torch.Tensor:
    """The input of ``level``'s trainable part (float32, on the CPU, N x LEVEL_INPUT_SHAPES[level]) for uint8
    chips (N x 3 x 150 x 150); ``flip`` mirrors the chips left-right first. Runs on the model's device."""
    check_level(level)
    check_chips(chips)
    frozen = model.frozen_part(level)
    device = next(model.parameters()).device
    blocks = []
    for start in range(0, len(chips), batch_size):
        batch = chips[start : start + batch_size]
        batch = batch.flip(3) if flip else batch
        blocks.append(frozen(to_model_input(batch).to(device)).float().cpu())
    return torch.cat(blocks) if blocks else torch.empty((0, *LEVEL_INPUT_SHAPES[level]))
