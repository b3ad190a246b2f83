"""Compositional embedding (III-F)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emoverify.losses.base import (
    CROSS_EXPRESSION,
    ExpressionLoss,
    LossSettings,
    checked_expressions,
    checked_identities,
    cross_expression_pairs,
    different_known_expressions,
    expression_counts,
    same_identity,
)


class CompositionNet(nn.Module):
    """The composition function g of eq. (5): ``g(f(x_a), e_a, e_b)`` estimates ``f(x_b)``.

    Input: the embedding and the one-hot codes of both expressions; layers
    FC(hidden)-ReLU-FC(hidden)-ReLU-FC(embedding_dim), as in the paper (whose
    last layer has 100 units because its embeddings have 100 dimensions).
    The first layer is applied in two parts, :meth:`project` once per sample
    and :meth:`compose` per (sample, expressions), so that a sample composed
    towards several expressions is multiplied by the large weight only once.
    """

    def __init__(self, embedding_dim: int, n_expressions: int, hidden: int = 100):
        super().__init__()
        self.embedding_dim = embedding_dim
        self.n_expressions = n_expressions
        self.layers = nn.Sequential(
            nn.Linear(embedding_dim + 2 * n_expressions, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, embedding_dim),
        )

    def forward(self, emb: Tensor, emo_from: Tensor, emo_to: Tensor) -> Tensor:
        return self.compose(self.project(emb), emo_from, emo_to)

    def project(self, emb: Tensor) -> Tensor:
        """The embedding's share of the first layer (its weight times emb)."""
        return emb @ self.layers[0].weight[:, : self.embedding_dim].T

    def compose(self, projected: Tensor, emo_from: Tensor, emo_to: Tensor) -> Tensor:
        """g from projected embeddings: adds the one-hot expressions' share and runs the remaining layers."""
        first = self.layers[0]
        from_weights = first.weight[:, self.embedding_dim : self.embedding_dim + self.n_expressions]
        to_weights = first.weight[:, self.embedding_dim + self.n_expressions :]
        hidden = projected + from_weights.T[emo_from] + to_weights.T[emo_to] + first.bias
        return self.layers[1:](hidden)


def ce(emb: Tensor, ids, emo, net: CompositionNet) -> Tensor:
    """Compositional embedding loss, eq. (5).

    Mean over ordered same-identity pairs (i, j) with different known
    expressions of ``|| g(emb[i], emo[i], emo[j]) - emb[j] ||^2``; ``g = net`` is
    trained jointly with the embedding. g runs once per distinct
    (source sample, target expression), at most B * n_expressions rows; memory
    O((B * n_expressions + pairs) * D).
    """
    ids = checked_identities(emb, ids)
    emo = checked_expressions(emb, emo, n_expressions=net.n_expressions)
    source, target = (same_identity(ids) & different_known_expressions(emo)).nonzero(as_tuple=True)
    combination, which = torch.unique(source * net.n_expressions + emo[target], return_inverse=True)
    rows = torch.div(combination, net.n_expressions, rounding_mode="floor")
    predictions = net.compose(net.project(emb)[rows], emo[rows], combination % net.n_expressions)
    residual = predictions[which] - emb[target]
    return residual.pow(2).sum() / max(len(source), 1)


class CE(ExpressionLoss):
    """:func:`ce` with its composition net (trained with the model); it averages over ordered same-identity
    pairs of different expressions."""

    name = "ce"
    built_on = CROSS_EXPRESSION

    def __init__(self, settings: LossSettings):
        super().__init__(settings)
        self.net = CompositionNet(settings.embedding_dim, settings.n_expressions)

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        return ce(emb, ids, emo, self.net)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return cross_expression_pairs(expression_counts(ids, emo))
