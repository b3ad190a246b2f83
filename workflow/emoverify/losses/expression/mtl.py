"""Multi-task learning (III-G): an expression classifier on the shared embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emoverify.losses.base import (
    EXPRESSION_LABELS,
    UNKNOWN,
    ExpressionLoss,
    LossSettings,
    check_embeddings,
    checked_expressions,
    masked_mean,
)


class ExpressionClassifier(nn.Module):
    """Linear expression classifier on the shared embedding (multi-task learning, III-G)."""

    def __init__(self, embedding_dim: int, n_expressions: int):
        super().__init__()
        self.n_expressions = n_expressions
        self.linear = nn.Linear(embedding_dim, n_expressions)

    def forward(self, emb: Tensor) -> Tensor:
        return self.linear(emb)


def mtl(emb: Tensor, emo, classifier: ExpressionClassifier) -> Tensor:
    """Multi-task loss: cross-entropy of ``classifier(emb)`` over the samples with a known expression."""
    check_embeddings(emb)
    emo = checked_expressions(emb, emo, n_expressions=classifier.n_expressions)
    logits = classifier(emb)
    per_sample = F.cross_entropy(logits, emo.clamp_min(0), reduction="none")
    return masked_mean(per_sample, emo != UNKNOWN)


class MTL(ExpressionLoss):
    """:func:`mtl` with its classifier (trained with the model); it averages over the labelled samples and
    reads no identity."""

    name = "mtl"
    reads = (EXPRESSION_LABELS,)

    def __init__(self, settings: LossSettings):
        super().__init__(settings)
        self.classifier = ExpressionClassifier(settings.embedding_dim, settings.n_expressions)

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        return mtl(emb, emo, self.classifier)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return int((torch.as_tensor(emo) != UNKNOWN).sum())
