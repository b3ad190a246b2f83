"""dlib's ResNet as a backbone that fine-tunes from its top down to a level (``training.backbone: dlib_resnet``).

The backbone holds only the trainable part of ``training.finetune``: below ``all`` it reads the frozen part's
cached activations (``features/dlib_resnet_<level>.npz``, features.dlib_activations), at ``all`` the chips
themselves. Untrained it is dlib: its output is dlib's own descriptor, so the untrained run is epoch 0 of early
stopping and the ``untrained`` reference scores dlib's descriptors (normalised, on the sphere). dlib describes a
face from one pass, without its mirror image; evaluation does the same here (``averages_mirror``).
"""

from __future__ import annotations

import copy
import functools

from torch import nn


@functools.lru_cache(maxsize=2)
def _parsed_network(weights_path: str | None):
    """dlib's network read from its weight file once per process (every run of a job starts from a copy)."""
    from emoverify.model.dlib_resnet import DlibResNet

    return DlibResNet.from_dat(weights_path).eval()


def trainable_part(level: str, weights_path: str | None = None, pretrained: bool = True) -> nn.Module:
    """A fresh copy of the trainable part of ``level``: with dlib's weights (``weights_path``, None: the
    package's file), or without ``pretrained`` torch's initialisation, for a checkpoint to fill."""
    from emoverify.model.dlib_resnet import DlibResNet

    network = _parsed_network(weights_path or None) if pretrained else DlibResNet()
    return copy.deepcopy(network.trainable_part(level))


class DlibFineTune(nn.Module):
    """The trainable part of dlib's network at ``level`` (its parameters are all that trains; affine layers
    are frozen buffers), mapping the level's input to dlib's unnormalised 128-d descriptor."""

    averages_mirror = False  # dlib's protocol: one pass per face

    def __init__(self, level: str, weights_path: str | None = None, pretrained: bool = True):
        super().__init__()
        from emoverify.model.dlib_resnet import LEVELS

        if level not in LEVELS:
            raise ValueError(f"unknown finetune level {level!r}; choose one of {', '.join(LEVELS)}")
        self.level = level
        self.trainable = trainable_part(level, weights_path, pretrained)
        self.embedding_dim = 128

    def forward(self, inputs):
        return self.trainable(inputs)
