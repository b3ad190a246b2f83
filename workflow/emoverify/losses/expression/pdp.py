"""Pairwise distance preservation (III-D)."""

from __future__ import annotations

import torch
from torch import Tensor

from emoverify.losses.base import (
    CROSS_EXPRESSION,
    ExpressionLoss,
    checked_expressions,
    checked_identities,
    cross_expression_quadruples,
    dense_codes,
    different_known_expressions,
    expression_counts,
    pairwise_sq_distances,
    same_identity,
    sum_sq_differences_across_members,
)


def pdp(emb: Tensor, ids, emo) -> Tensor:
    """Pairwise distance preservation, eq. (3).

    For each unordered expression pair {a, b}, a != b, take the unordered
    same-identity pairs (i, j) with expressions {a, b}; over every two such
    pairs from different identities, ``(d2(i, j) - d2(k, l))^2``. The loss is
    the mean over all those pairs of pairs (the quadruples of the paper),
    computed in closed form from per-(expression pair, identity) counts, means
    and sums of squares of the distances: memory O(B^2), no quadruple is enumerated.
    """
    ids = checked_identities(emb, ids)
    emo = checked_expressions(emb, emo)
    pairs = torch.triu(same_identity(ids) & different_known_expressions(emo), diagonal=1)
    first, second = pairs.nonzero(as_tuple=True)
    distances = pairwise_sq_distances(emb)[first, second]
    low, high = torch.minimum(emo[first], emo[second]), torch.maximum(emo[first], emo[second])
    expression_pair = dense_codes(low * (int(emo.max()) + 1) + high) if len(first) else low
    identity = dense_codes(ids)[first]
    total, count = sum_sq_differences_across_members(distances[:, None], expression_pair, identity)
    return total / count.clamp_min(1)


class PDP(ExpressionLoss):
    """:func:`pdp`; it averages over quadruples: two same-identity pairs with one expression pair, from two
    different identities."""

    name = "pdp"
    built_on = CROSS_EXPRESSION

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        return pdp(emb, ids, emo)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return cross_expression_quadruples(expression_counts(ids, emo))
