"""Fixed basis vectors (III-E)."""

from __future__ import annotations

import torch
from torch import Tensor

from emoverify.losses.base import (
    CROSS_EXPRESSION,
    UNKNOWN,
    ExpressionLoss,
    LossInputError,
    LossSettings,
    checked_expressions,
    checked_identities,
    cross_expression_pairs,
    dense_codes,
    expression_counts,
    sum_sq_differences_across_members,
)
from emoverify.vocabulary import EXPRESSIONS


def basis_offsets(n_expressions: int, dim: int, origin: int | None = 5, scale: float = 1.0) -> Tensor:
    """Fixed offsets ``u_e`` (n_expressions x dim) of the FBV loss.

    The origin expression (``neutral`` = 5 by default) gets 0; every other
    expression gets its own standard basis vector times ``scale``, in
    expression order. With ``origin=None`` (a dataset without the origin
    expression) every expression gets a basis vector.
    """
    if origin is not None and not 0 <= origin < n_expressions:
        raise ValueError(f"FBV origin expression {origin} is not one of the {n_expressions} expression codes")
    moving = [e for e in range(n_expressions) if e != origin]
    if len(moving) > dim:
        raise ValueError(
            f"FBV needs one basis vector per non-origin expression: {len(moving)} expressions but "
            f"embedding dimension {dim}; use an embedding dimension of at least {len(moving)}"
        )
    offsets = torch.zeros(n_expressions, dim)
    for axis, expression in enumerate(moving):
        offsets[expression, axis] = scale
    return offsets


def fbv(emb: Tensor, ids, emo, offsets: Tensor) -> Tensor:
    """Fixed basis vector loss, eq. (4).

    Mean over ordered same-identity pairs (i, j) with different known
    expressions of ``|| emb[j] - emb[i] - (u[emo[j]] - u[emo[i]]) ||^2``, where
    ``u = offsets`` (see :func:`basis_offsets`). That is the squared distance
    between ``emb - u[emo]`` (each sample moved back to its identity's origin),
    summed in closed form per identity over its expression groups: O(B * D).
    Embeddings are not normalised (the paper drops the sphere for FBV).
    """
    ids = checked_identities(emb, ids)
    if offsets.dim() != 2 or offsets.shape[1] != emb.shape[1]:
        raise LossInputError(
            f"FBV offsets must be (n_expressions x {emb.shape[1]}), got shape {tuple(offsets.shape)}; "
            "build them with basis_offsets(n_expressions, embedding_dim)"
        )
    emo = checked_expressions(emb, emo, n_expressions=offsets.shape[0])
    known = (emo != UNKNOWN).nonzero(as_tuple=True)[0]
    at_origin = emb[known] - offsets.to(emb)[emo[known]]
    total, count = sum_sq_differences_across_members(at_origin, dense_codes(ids[known]), emo[known])
    return total / count.clamp_min(1)


class FBV(ExpressionLoss):
    """:func:`fbv` with offsets from the settings' ``origin_expression`` and ``fbv_scale`` (a buffer, so they
    follow the objective's device); it averages over ordered same-identity pairs of different expressions."""

    name = "fbv"
    built_on = CROSS_EXPRESSION

    def __init__(self, settings: LossSettings):
        super().__init__(settings)
        offsets = basis_offsets(
            settings.n_expressions, settings.embedding_dim, settings.origin_expression, settings.fbv_scale
        )
        self.register_buffer("offsets", offsets)

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        return fbv(emb, ids, emo, self.offsets)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return cross_expression_pairs(expression_counts(ids, emo))


def fbv_origin(dataset_expressions: set[str] | None) -> int | None:
    """FBV's origin, one per dataset whatever the label source: neutral when the dataset shows neutral faces
    (its manual labels include neutral, or it has no manual labels and fer, which detects neutral, labels it);
    a dataset whose manual labels lack neutral (CK+48) gives every expression its own basis vector."""
    if dataset_expressions and "neutral" not in dataset_expressions:
        return None
    return EXPRESSIONS.index("neutral")
