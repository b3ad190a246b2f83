"""Triplet loss (III-A), with the three mining modes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from emoverify.losses.base import (
    LossSettings,
    PrimaryLoss,
    attached_zero,
    checked_identities,
    masked_mean,
    pairwise_sq_distances,
    same_identity,
)
from emoverify.registry import MINING_MODES


def triplet(emb: Tensor, ids, margin: float = 0.2, mining: str = "all") -> Tensor:
    """Triplet loss, eq. (1): ``max(0, d2(a, p) - d2(a, n) + margin)``.

    Triplets have ``ids[a] == ids[p]``, ``a != p`` and ``ids[n] != ids[a]``.
    ``mining`` chooses which are averaged:

    - ``"all"``: the mean over every valid triplet (zero-loss ones included);
      computed per anchor by sorting its negative distances, O(B^2 log B) time
      and O(B^2) memory, without materialising the B^3 triplets.
    - ``"batch_hard"``: per anchor, its farthest positive and nearest negative
      (Hermans et al.); mean over anchors having both.
    - ``"semi_hard"``: per positive pair (a, p), the nearest negative farther
      than p, i.e. ``d2(a, n) > d2(a, p)`` (FaceNet); when no negative is
      farther, the farthest negative (as TensorFlow's semi-hard triplet loss).
      Mean over positive pairs whose anchor has a negative.
    """
    if mining not in MINING_MODES:
        raise ValueError(f"unknown triplet mining {mining!r}; allowed: {', '.join(MINING_MODES)}")
    ids = checked_identities(emb, ids)
    if emb.shape[0] == 0:
        return attached_zero(emb)
    d2 = pairwise_sq_distances(emb)
    positive = same_identity(ids)
    negative = ids[:, None] != ids[None, :]
    # Larger than every d2 + margin: marks "not a negative" and is never selected.
    sentinel = d2.detach().max() + abs(margin) + 1.0
    if mining == "batch_hard":
        return _batch_hard(d2, positive, negative, margin, sentinel)
    sorted_negatives = torch.where(negative, d2, sentinel).sort(dim=1).values
    n_negatives = negative.sum(1)
    if mining == "semi_hard":
        return _semi_hard(d2, positive, sorted_negatives, n_negatives, margin)
    return _all_triplets(d2, positive, sorted_negatives, n_negatives, margin)


def _all_triplets(d2, positive, sorted_negatives, n_negatives, margin) -> Tensor:
    # For anchor a and positive p: sum_n relu(t - d2(a, n)) with t = d2(a, p) + margin
    # = count * t - (sum of the `count` negative distances below t).
    threshold = d2 + margin
    count = torch.searchsorted(sorted_negatives.detach(), threshold.detach())
    prefix_sums = F.pad(sorted_negatives.cumsum(1), (1, 0))
    hinge_sums = count * threshold - prefix_sums.gather(1, count)
    n_triplets = (positive.sum(1) * n_negatives).sum()
    return torch.where(positive, hinge_sums, 0.0).sum() / n_triplets.clamp_min(1)


def _batch_hard(d2, positive, negative, margin, sentinel) -> Tensor:
    farthest_positive = torch.where(positive, d2, 0.0).amax(1)
    nearest_negative = torch.where(negative, d2, sentinel).amin(1)
    hinge = (farthest_positive - nearest_negative + margin).clamp_min(0.0)
    return masked_mean(hinge, positive.any(1) & negative.any(1))


def _semi_hard(d2, positive, sorted_negatives, n_negatives, margin) -> Tensor:
    first_farther = torch.searchsorted(sorted_negatives.detach(), d2.detach().contiguous(), right=True)
    has_farther = first_farther < n_negatives[:, None]
    farthest = (n_negatives - 1).clamp_min(0)[:, None].expand_as(first_farther)
    chosen = sorted_negatives.gather(1, torch.where(has_farther, first_farther, farthest))
    hinge = (d2 - chosen + margin).clamp_min(0.0)
    return masked_mean(hinge, positive & (n_negatives > 0)[:, None])


class Triplet(PrimaryLoss):
    """:func:`triplet` with the settings' ``margin`` and ``mining``."""

    name = "triplet"

    def __init__(self, settings: LossSettings):
        super().__init__(settings)
        self.margin = settings.margin
        self.mining = settings.mining

    def forward(self, emb: Tensor, ids) -> Tensor:
        return triplet(emb, ids, margin=self.margin, mining=self.mining)
