"""Additive angular margin softmax of Deng et al. (ArcFace) over the training identities."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emoverify.losses.base import LossInputError, LossSettings, PrimaryLoss, arc, checked_identities


class ArcFaceHead(nn.Module):
    """Additive angular margin softmax of Deng et al. (ArcFace) over the training identities.

    Logits are ``scale * cos(theta_c)`` for every class ``c`` and
    ``scale * cos(theta_y + margin)`` for the true class ``y``, where
    ``theta_c`` is the angle between the normalised embedding and the
    normalised class weight. Where ``theta_y + margin`` exceeds pi the target
    logit falls back to ``scale * (cos(theta_y) - margin * sin(margin))`` to stay
    monotonic (as in insightface). ``forward`` returns the mean cross-entropy.
    Identities must be integer-coded ``0 .. n_classes - 1``.
    """

    def __init__(self, embedding_dim: int, n_classes: int, scale: float, margin: float):
        super().__init__()
        if n_classes < 1 or embedding_dim < 1:
            raise ValueError(
                f"ArcFaceHead needs n_classes >= 1 and embedding_dim >= 1, got {n_classes}, {embedding_dim}"
            )
        if not 0.0 <= margin < math.pi:
            raise ValueError(f"ArcFace margin is an angle in radians in [0, pi), got {margin}")
        self.n_classes = n_classes
        self.scale = scale
        self.margin = margin
        self.weight = nn.Parameter(torch.empty(n_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def start_at_class_means(self, emb: Tensor, ids: Tensor) -> None:
        """Set each class centre to the direction of its class's mean embedding (``ids`` integer codes
        0..n_classes-1, every class present); the centres stay trainable."""
        ids = checked_identities(emb, ids)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.n_classes):
            raise LossInputError(
                f"ArcFace head has {self.n_classes} classes but got identity codes outside 0..{self.n_classes - 1}"
            )
        present = torch.bincount(ids, minlength=self.n_classes)
        if bool((present == 0).any()):
            missing = (present == 0).nonzero().flatten().tolist()
            raise LossInputError(f"ArcFace centres from class means need every class's embeddings; none for {missing}")
        sums = torch.zeros(self.n_classes, emb.shape[1], dtype=emb.dtype, device=emb.device).index_add_(0, ids, emb)
        with torch.no_grad():
            self.weight.copy_(F.normalize(sums / present[:, None].to(emb.dtype), dim=1).to(self.weight))

    def logits(self, emb: Tensor, ids: Tensor) -> Tensor:
        """Scaled logits with the angular margin applied to each sample's own class."""
        cosine = F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).T
        target_cosine = cosine.gather(1, ids[:, None]).squeeze(1)
        shifted = arc(target_cosine) + self.margin
        target_logit = torch.where(
            shifted < math.pi, torch.cos(shifted), target_cosine - self.margin * math.sin(self.margin)
        )
        return self.scale * cosine.scatter(1, ids[:, None], target_logit[:, None])

    def forward(self, emb: Tensor, ids) -> Tensor:
        ids = checked_identities(emb, ids)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.n_classes):
            raise LossInputError(
                f"ArcFace head has {self.n_classes} classes but got identity codes {int(ids.min())}..{int(ids.max())}; "
                f"integer-code the training identities as 0..{self.n_classes - 1}"
            )
        per_sample = F.cross_entropy(self.logits(emb, ids), ids, reduction="none")
        return per_sample.sum() / max(len(ids), 1)


class ArcFace(PrimaryLoss):
    """The softmax head over the settings' ``n_identities`` training identities (integer-coded
    0..n_identities-1), with ``arcface_scale`` and ``arcface_margin``; the head trains with the model."""

    name = "arcface"

    def __init__(self, settings: LossSettings):
        super().__init__(settings)
        self.head = ArcFaceHead(
            settings.embedding_dim, settings.n_identities, settings.arcface_scale, settings.arcface_margin
        )

    def forward(self, emb: Tensor, ids) -> Tensor:
        return self.head(emb, ids)
