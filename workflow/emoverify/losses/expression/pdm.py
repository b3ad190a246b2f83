"""Pairwise distance minimisation (III-C)."""

from __future__ import annotations

import torch
from torch import Tensor

from emoverify.losses.base import (
    SAME_EXPRESSION,
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


def pdm_across_sessions(emb: Tensor, ids, emo, sessions) -> Tensor:
    """:func:`pdm` without its same-session pairs (evaluation's exclude_same_session, for the loss): mean
    ``d2(i, j)`` over pairs of one identity and one known expression recorded in different sessions; 0 when
    there is no such pair.

    On a dataset that films each expression of a person as one sequence (CK+), every pair PDM pulls together is
    two frames of one recording: near-duplicates. ``sessions`` are codes equal only for two images of one
    person's known session (``training.pair_counts.session_codes``: an image whose session is unknown shares
    one with nobody). A cell's pair sum is ``pdm`` times its pair count, so the across-session sum is the
    person-level sum minus the session-level one.
    """
    person_pairs = PDM.count_pairs(ids.cpu(), emo.cpu())
    session_pairs = PDM.count_pairs(sessions.cpu(), emo.cpu())
    person_total = pdm(emb, ids, emo) * person_pairs
    session_total = pdm(emb, sessions, emo) * session_pairs
    return (person_total - session_total) / max(person_pairs - session_pairs, 1)


class PDM(ExpressionLoss):
    """:func:`pdm`; it averages over the unordered same-identity pairs of one known expression, or with the
    method's ``pdm_exclude_same_session``, over those recorded in different sessions."""

    name = "pdm"
    built_on = SAME_EXPRESSION
    session_option = "pdm_exclude_same_session"

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        return pdm(emb, ids, emo)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return same_expression_pairs(expression_counts(ids, emo))

    def across_sessions(self, emb: Tensor, ids, emo, sessions) -> Tensor:
        return pdm_across_sessions(emb, ids, emo, sessions)

    @staticmethod
    def count_pairs_across_sessions(ids, emo, sessions) -> int:
        return PDM.count_pairs(ids, emo) - PDM.count_pairs(sessions, emo)
