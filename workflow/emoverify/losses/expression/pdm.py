"""Pairwise distance minimisation (III-C)."""

from __future__ import annotations

import torch
from torch import Tensor

from emoverify.losses.base import (
    UNKNOWN,
    ExpressionLoss,
    attached_zero,
    checked_expressions,
    checked_identities,
    expression_counts,
    same_expression_pairs,
)


def pdm(emb: Tensor, ids, emo) -> Tensor:
    """Pairwise distance minimisation, eq. (2): mean ``d2(i, j)`` over pairs of one identity and one known expression.

    Closed form per (identity, expression) cell: its n samples' pairs sum to
    ``n * sum ||emb - cell mean||^2``, so time and memory are O(B * D).
    """
    ids = checked_identities(emb, ids)
    emo = checked_expressions(emb, emo)
    if emb.shape[0] == 0:
        return attached_zero(emb)
    span = int(emo.max()) + 2  # codes -1 .. max
    _, cell, size = torch.unique(ids * span + emo + 1, return_inverse=True, return_counts=True)
    size = size.to(emb.dtype)
    cell_mean = emb.new_zeros(len(size), emb.shape[1]).index_add(0, cell, emb) / size[:, None]
    cell_size = size[cell]
    known = emo != UNKNOWN
    total = torch.where(known, cell_size * (emb - cell_mean[cell]).pow(2).sum(1), 0.0).sum()
    n_pairs = torch.where(known, cell_size - 1, 0.0).sum() / 2
    return total / n_pairs.clamp_min(1)


class PDM(ExpressionLoss):
    """:func:`pdm`; it averages over the unordered same-identity pairs of one known expression."""

    name = "pdm"

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        return pdm(emb, ids, emo)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return same_expression_pairs(expression_counts(ids, emo))
