"""Embedding networks: a compact CNN for small datasets and facenet-pytorch's InceptionResnetV1.

Every network maps a batch of RGB faces (B x 3 x H x W, values roughly in [-1, 1]) to
embeddings (B x D). The geometry decides the output space: ``spherical`` L2-normalises
(Triplet, ArcFace), ``euclidean`` leaves it free (FBV and CE, as the paper requires).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from emoverify.model.safe_load import load_weights
from emoverify.registry import BACKBONES, FEATURE_SIZES, GEOMETRIES, HEAD_PROJECTIONS

# File names facenet-pytorch gives its released weights (it downloads them into the torch hub cache).
PRETRAINED_FILES = {
    "vggface2": "20180402-114759-vggface2.pt",
    "casia-webface": "20180408-102900-casia-webface.pt",
}
PRETRAINED_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/{file}"


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights were asked for but no local copy exists."""


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class CompactCNN(nn.Module):
    """Four VGG-style stages and global average pooling: small enough to train from scratch on CPUs."""

    def __init__(self, embedding_dim: int = 128, in_channels: int = 3, width: int = 32):
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        stages, previous = [], in_channels
        for channels in widths:
            stages.append(_conv_block(previous, channels))
            previous = channels
        self.features = nn.Sequential(*stages)
        self.head = nn.Linear(previous, embedding_dim)
        self.embedding_dim = embedding_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.features(images).mean(dim=(2, 3))
        return self.head(pooled)


class FeatureHead(nn.Module):
    """The pretrained regime's trainable part, on a pretrained recognizer's cached descriptors (N x F floats).

    A linear projection with orthonormal rows at initialisation plus a residual branch of two linear layers
    with a ReLU, whose last layer starts at zero: the untrained head is a rotation of the recognizer's space
    when the embedding is as long as the descriptor (a projection onto random orthonormal directions when
    shorter), and training bends it rather than starting from noise (a plain MLP trained on a few dozen
    people forgets the structure that separates the people it never saw).

    With ``frozen_projection`` the projection keeps its starting rotation and only the residual branch learns:
    the head is the recognizer plus a learnt correction of rank at most ``hidden``.
    """

    def __init__(self, feature_size: int, embedding_dim: int = 128, hidden: int = 256, frozen_projection=False):
        super().__init__()
        self.projection = nn.Linear(feature_size, embedding_dim, bias=False)
        nn.init.orthogonal_(self.projection.weight)
        self.projection.weight.requires_grad_(not frozen_projection)
        self.residual = nn.Sequential(
            nn.Linear(feature_size, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, embedding_dim),
        )
        nn.init.zeros_(self.residual[-1].weight)
        nn.init.zeros_(self.residual[-1].bias)
        self.feature_size = feature_size
        self.embedding_dim = embedding_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(features) + self.residual(features)


def find_pretrained_weights(name: str, explicit_path: str | os.PathLike | None = None) -> Path:
    """Locate facenet-pytorch's released weights locally, or say exactly what is missing."""
    if name not in PRETRAINED_FILES:
        raise ValueError(f"unknown pretrained weights {name!r}; choose one of {sorted(PRETRAINED_FILES)}")
    file_name = PRETRAINED_FILES[name]
    candidates = [Path(explicit_path)] if explicit_path else []
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / file_name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MissingWeightsError(
        f"pretrained InceptionResnetV1 weights {name!r} not found (looked in: "
        f"{', '.join(str(c) for c in candidates)}). This machine does not download them. "
        f"Get {PRETRAINED_URL.format(file=file_name)} on a machine with internet access and put it at "
        f"{candidates[-1]} or set the config key pretrained_path; or use pretrained: none to train from scratch."
    )


# InceptionResnetV1's trunk in forward order, as the blocks that fine-tuning unfreezes from the end.
TRUNK_BLOCKS = (
    ("conv2d_1a",),
    ("conv2d_2a",),
    ("conv2d_2b",),
    ("conv2d_3b",),
    ("conv2d_4a",),
    ("conv2d_4b",),
    ("repeat_1",),
    ("mixed_6a",),
    ("repeat_2",),
    ("mixed_7a",),
    ("repeat_3",),
    ("block8",),
    ("last_linear", "last_bn"),
)


class InceptionResnetEmbedding(nn.Module):
    """facenet-pytorch's InceptionResnetV1 trunk with a fresh linear head of the requested size.

    facenet-pytorch L2-normalises inside its forward; the trunk is called layer by layer
    here so that the euclidean geometry (FBV, CE) really is unconstrained.

    ``trainable_blocks`` fine-tunes only the trunk's last blocks (0: the trunk is frozen, -1: all of it
    trains); the head always trains. Frozen blocks stay in eval mode, so their batch-norm statistics keep the
    pretrained values.
    """

    def __init__(
        self,
        embedding_dim: int = 128,
        pretrained: str = "none",
        pretrained_path: str | None = None,
        trainable_blocks: int = -1,
    ):
        super().__init__()
        from facenet_pytorch import InceptionResnetV1

        self.trunk = InceptionResnetV1(pretrained=None, classify=False)
        if pretrained != "none":
            state = load_weights(find_pretrained_weights(pretrained, pretrained_path))
            state = {k: v for k, v in state.items() if not k.startswith("logits.")}
            self.trunk.load_state_dict(state, strict=False)
        self.head = nn.Linear(512, embedding_dim)
        self.embedding_dim = embedding_dim
        frozen = 0 if trainable_blocks < 0 else max(len(TRUNK_BLOCKS) - trainable_blocks, 0)
        self.frozen_blocks = [getattr(self.trunk, name) for block in TRUNK_BLOCKS[:frozen] for name in block]
        for module in self.frozen_blocks:
            module.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.frozen_blocks:
            module.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        t = self.trunk
        x = images
        for layer in (
            t.conv2d_1a,
            t.conv2d_2a,
            t.conv2d_2b,
            t.maxpool_3a,
            t.conv2d_3b,
            t.conv2d_4a,
            t.conv2d_4b,
            t.repeat_1,
            t.mixed_6a,
            t.repeat_2,
            t.mixed_7a,
            t.repeat_3,
            t.block8,
            t.avgpool_1a,
        ):
            x = layer(x)
        x = t.dropout(x)
        x = t.last_bn(t.last_linear(x.view(x.shape[0], -1)))
        return self.head(x)


class EmbeddingModel(nn.Module):
    """A backbone followed by the geometry's projection (L2 normalisation on the sphere)."""

    def __init__(self, backbone: nn.Module, geometry: str):
        super().__init__()
        if geometry not in GEOMETRIES:
            raise ValueError(f"unknown geometry {geometry!r}; choose one of {GEOMETRIES}")
        self.backbone = backbone
        self.geometry = geometry

    @property
    def averages_mirror(self) -> bool:
        """Whether evaluation averages in a face's mirror image (not for dlib's network: dlib's protocol)."""
        return getattr(self.backbone, "averages_mirror", True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        embedding = self.backbone(images)
        if self.geometry == "spherical":
            embedding = F.normalize(embedding.float(), dim=1)
        return embedding


def build_model(
    backbone: str,
    *,
    embedding_dim: int,
    geometry: str,
    pretrained: str = "none",
    pretrained_path: str | None = None,
    width: int = 32,
    features: str = "dlib",
    head_hidden: int = 256,
    head_projection: str = "trainable",
    trainable_blocks: int = -1,
    finetune: str = "level0",
    dlib_weights: str | None = None,
    dlib_pretrained: bool = True,
) -> EmbeddingModel:
    """Build the embedding network named in the config (``features``, ``head_hidden`` and ``head_projection``:
    the head's; ``finetune``, ``dlib_weights`` and ``dlib_pretrained`` (False: torch's initialisation, for a
    checkpoint to fill): dlib_resnet's)."""
    if backbone == "head":
        if features not in FEATURE_SIZES:
            raise ValueError(f"unknown features {features!r}; choose one of {sorted(FEATURE_SIZES)}")
        if head_projection not in HEAD_PROJECTIONS:
            raise ValueError(f"unknown head_projection {head_projection!r}; choose one of {HEAD_PROJECTIONS}")
        frozen = head_projection == "frozen"
        net: nn.Module = FeatureHead(FEATURE_SIZES[features], embedding_dim, head_hidden, frozen_projection=frozen)
    elif backbone == "compact":
        if pretrained != "none":
            raise ValueError("the compact backbone has no pretrained weights; set pretrained: none")
        net = CompactCNN(embedding_dim=embedding_dim, width=width)
    elif backbone == "inception_resnet_v1":
        net = InceptionResnetEmbedding(embedding_dim, pretrained, pretrained_path, trainable_blocks)
    elif backbone == "dlib_resnet":
        from emoverify.model.finetune import DlibFineTune  # reads dlib's weight file: only for this backbone

        if embedding_dim != 128:
            raise ValueError(f"dlib_resnet embeds in dlib's 128 dimensions, not {embedding_dim}")
        net = DlibFineTune(finetune, dlib_weights, pretrained=dlib_pretrained)
    else:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
    return EmbeddingModel(net, geometry)


def model_from_recipe(recipe: dict, geometry: str, *, load_pretrained: bool = True) -> EmbeddingModel:
    """The network a training recipe (the config's `training` section) describes: the one builder that
    training, evaluation, references, benchmarks and the CUDA check share.

    Without `load_pretrained` the architecture is built with random weights, for a checkpoint to fill.
    """
    pretrained = recipe.get("pretrained", "none") if load_pretrained else "none"
    return build_model(
        recipe["backbone"],
        embedding_dim=recipe["embedding_dim"],
        geometry=geometry,
        pretrained=pretrained,
        pretrained_path=recipe.get("pretrained_path") or None,
        width=recipe["width"],
        features=recipe.get("features", "dlib"),
        head_hidden=recipe.get("head_hidden", 256),
        head_projection=recipe.get("head_projection", "trainable"),
        trainable_blocks=recipe.get("trainable_blocks", -1),
        finetune=recipe.get("finetune", "level0"),
        dlib_weights=recipe.get("dlib_weights") or None,
        dlib_pretrained=load_pretrained,
    )
