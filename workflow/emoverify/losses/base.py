"""What every loss shares: input checks, the pieces several losses compute, the settings they are built from,
and the two kinds of loss class (primary and expression)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import ClassVar

import torch
from torch import Tensor, nn

from emoverify.schema import default
from emoverify.vocabulary import EXPRESSIONS

UNKNOWN = -1
ARC_EPS = 1e-7  # keeps acos away from +-1, where its derivative is infinite
NEUTRAL = EXPRESSIONS.index("neutral")

IDENTITIES = "identities"
EXPRESSION_LABELS = "expressions"
# the same-person pairs an expression loss rests on (ExpressionLoss.built_on)
SAME_EXPRESSION = "same_expression"
CROSS_EXPRESSION = "cross_expression"


class LossInputError(ValueError):
    """A batch the losses cannot interpret: wrong shape, dtype or label range."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LossSettings:
    """What the terms of one objective are built from: the embedding and label sizes and each loss's knobs.

    ``origin_expression`` is FBV's origin (None: the data lack it, every expression moves); ``margin`` and
    ``mining`` the triplet loss's; ``arcface_scale`` and ``arcface_margin`` the ArcFace forms'. The knobs'
    defaults are the config schema's, and their values were checked with the config (the settings trust them).
    """

    embedding_dim: int
    n_identities: int
    n_expressions: int = len(EXPRESSIONS)
    origin_expression: int | None = NEUTRAL
    margin: float = default("training", "margin")
    mining: str = default("training", "mining")
    arcface_scale: float = default("training", "arcface_scale")
    arcface_margin: float = default("training", "arcface_margin")
    fbv_scale: float = default("training", "fbv_scale")


# --------------------------------------------------------------------------- the two kinds of loss


class PrimaryLoss(nn.Module):
    """An identity loss: ``forward(emb, ids)``. ``name`` is its module's file name and the config's
    ``primary`` value; trainable parts (a softmax head) are submodules."""

    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = (IDENTITIES,)

    def __init__(self, settings: LossSettings):
        super().__init__()

    def forward(self, emb: Tensor, ids) -> Tensor:
        raise NotImplementedError


class ExpressionLoss(nn.Module):
    """An expression loss: ``forward(emb, ids, emo)`` and ``count_pairs(ids, emo)``, the pairs (quadruples,
    labelled samples) it averages over in a batch; 0 means it trained nothing. ``name`` is its module's file
    name and its key under a method's ``aux``; ``reads`` names the labels its forward pass uses.

    ``built_on`` names the same-person pairs its idea rests on (:data:`SAME_EXPRESSION` or
    :data:`CROSS_EXPRESSION`; None for a loss of single images): the pair-counts table counts them, and how
    many fall within one recording session, through :meth:`person_pairs`. ``session_option`` is the method key
    that makes it average only over pairs recorded in different sessions (None: it has no such option); a loss
    with one implements :meth:`across_sessions` and :meth:`count_pairs_across_sessions`.
    """

    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = (IDENTITIES, EXPRESSION_LABELS)
    built_on: ClassVar[str | None] = None
    session_option: ClassVar[str | None] = None

    def __init__(self, settings: LossSettings):
        super().__init__()

    def forward(self, emb: Tensor, ids, emo) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def count_pairs(ids: Tensor, emo: Tensor) -> int:
        raise NotImplementedError

    @classmethod
    def person_pairs(cls, ids, emo) -> int:
        """The unordered same-person pairs of this batch its idea rests on (0 for a loss of single images);
        given session codes as ``ids``, the ones within one session."""
        if cls.built_on is None:
            return 0
        if cls.built_on not in PAIRS_BUILT_ON:
            raise TypeError(
                f"loss {cls.name!r}: built_on must be one of {', '.join(PAIRS_BUILT_ON)} or None, got {cls.built_on!r}"
            )
        return PAIRS_BUILT_ON[cls.built_on](expression_counts(ids, emo))

    def across_sessions(self, emb: Tensor, ids, emo, sessions) -> Tensor:
        """``forward`` over the pairs recorded in different sessions only (``sessions``: a code per image, equal
        only for two images of one person's known session)."""
        raise NotImplementedError(f"loss {self.name!r} has no session option")

    @staticmethod
    def count_pairs_across_sessions(ids, emo, sessions) -> int:
        """How many pairs :meth:`across_sessions` averages over."""
        raise NotImplementedError


# --------------------------------------------------------------------------- checks


def integer_labels(emb: Tensor, labels, name: str) -> Tensor:
    """``labels`` as an integer vector on ``emb``'s device, one entry per embedding."""
    labels = torch.as_tensor(labels, device=emb.device)
    if labels.numel() == 0:
        labels = labels.long()  # an empty list arrives as float
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise LossInputError(
            f"{name} must hold integer codes, got dtype {labels.dtype}; encode labels as integers first"
        )
    if labels.dim() != 1 or labels.shape[0] != emb.shape[0]:
        raise LossInputError(
            f"{name} must be a vector with one entry per embedding ({emb.shape[0]}), got shape {tuple(labels.shape)}"
        )
    return labels


def check_embeddings(emb: Tensor) -> None:
    if not isinstance(emb, Tensor) or emb.dim() != 2:
        shape = tuple(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
        raise LossInputError(f"emb must be a (batch x dim) tensor, got {shape}; flatten the model output first")


def checked_identities(emb: Tensor, ids) -> Tensor:
    check_embeddings(emb)
    return integer_labels(emb, ids, "ids")


def checked_expressions(emb: Tensor, emo, n_expressions: int | None = None) -> Tensor:
    emo = integer_labels(emb, emo, "emo")
    if emo.numel() and int(emo.min()) < UNKNOWN:
        raise LossInputError(f"emo codes must be >= -1 (-1 = unknown), got {int(emo.min())}")
    if n_expressions is not None and emo.numel() and int(emo.max()) >= n_expressions:
        raise LossInputError(
            f"emo code {int(emo.max())} is outside the {n_expressions} expressions this loss was built for; "
            "codes are indices into vocabulary.EXPRESSIONS"
        )
    return emo


# --------------------------------------------------------------------------- shared pieces


def pairwise_sq_distances(x: Tensor) -> Tensor:
    """B x B matrix of squared Euclidean distances, via the Gram matrix (O(B^2) memory)."""
    squared_norms = x.pow(2).sum(1)
    return (squared_norms[:, None] + squared_norms[None, :] - 2.0 * x @ x.T).clamp_min(0.0)


def attached_zero(emb: Tensor) -> Tensor:
    """A zero that keeps the graph alive, for batches without anything to penalise."""
    return emb.sum() * 0.0


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` holds; 0 (with a gradient) when it holds nowhere."""
    return torch.where(mask, values, values.new_zeros(())).sum() / mask.sum().clamp_min(1)


def same_identity(ids: Tensor) -> Tensor:
    """Ordered pairs (i, j), i != j, of one identity."""
    eye = torch.eye(len(ids), dtype=torch.bool, device=ids.device)
    return (ids[:, None] == ids[None, :]) & ~eye


def different_known_expressions(emo: Tensor) -> Tensor:
    known = emo != UNKNOWN
    return (emo[:, None] != emo[None, :]) & known[:, None] & known[None, :]


def arc(cosine: Tensor) -> Tensor:
    """Geodesic distance on the unit sphere for a cosine similarity."""
    return torch.acos(cosine.clamp(-1.0 + ARC_EPS, 1.0 - ARC_EPS))


def dense_codes(labels: Tensor) -> Tensor:
    """Labels renumbered 0..n-1 (in sorted order)."""
    return torch.unique(labels, return_inverse=True)[1]


def cell_statistics(values: Tensor, cell: Tensor, n_cells: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per cell of the rows of ``values`` (n x D): size, mean, and centred sum of squares ``sum ||v - mean||^2``."""
    size = torch.bincount(cell, minlength=n_cells).to(values.dtype)
    mean = values.new_zeros(n_cells, values.shape[1]).index_add(0, cell, values) / size.clamp_min(1)[:, None]
    spread = values.new_zeros(n_cells).index_add(0, cell, (values - mean[cell]).pow(2).sum(1))
    return size, mean, spread


def sum_sq_differences_across_members(values: Tensor, group: Tensor, member: Tensor) -> tuple[Tensor, Tensor]:
    """``sum ||v_p - v_q||^2`` over unordered pairs of rows in one group with different members, and their number.

    Per group, with n_m, mu_m, S_m the size, mean and spread of member m's rows
    and N, mu the group's: ``sum_m S_m (N - n_m) + N sum_m n_m ||mu_m - mu||^2``;
    every term is non-negative, so the sum is exact to rounding even near 0.
    """
    n_groups = int(group.max()) + 1 if len(group) else 1
    n_members = int(member.max()) + 1 if len(member) else 1
    size, mean, spread = cell_statistics(values, group * n_members + member, n_groups * n_members)
    size, spread = size.view(n_groups, n_members), spread.view(n_groups, n_members)
    mean = mean.view(n_groups, n_members, -1)
    group_size = size.sum(1, keepdim=True)
    group_mean = (size[..., None] * mean).sum(1, keepdim=True) / group_size.clamp_min(1)[..., None]
    within = (spread * (group_size - size)).sum()
    between = (group_size * size * (mean - group_mean).pow(2).sum(2)).sum()
    count = (group_size.squeeze(1).pow(2) - size.pow(2).sum(1)).sum() / 2
    return within + between, count


# --------------------------------------------------------------------------- pair counts


def expression_counts(ids, emo) -> list[list[int]]:
    """Per identity, its images per known expression: every loss's pair count follows from this table, without
    the B x B pair matrices. Counted after every training step, so in plain Python, cheaper than array calls on
    a few dozen labels; a batch's table is kept, since a job's runs of one label source see the same batches
    and each of their terms counts from it."""
    ids, emo = _plain(ids), _plain(emo)
    key = (tuple(ids), tuple(emo))
    table = _COUNTED.get(key)
    if table is None:
        if len(_COUNTED) >= _COUNTED_LIMIT:
            _COUNTED.clear()
        table = _COUNTED[key] = _count_expressions(ids, emo)
    return table


_COUNTED: dict[tuple, list] = {}
_COUNTED_LIMIT = 20_000  # batches' tables kept: a few hundred bytes each


def _count_expressions(ids: list, emo: list) -> list:
    cells = Counter((i, e) for i, e in zip(ids, emo) if e != UNKNOWN)
    table: dict = {}
    for (identity, expression), n in cells.items():
        table.setdefault(identity, {})[expression] = n
    return [list(row.items()) for row in table.values()]


def _plain(values) -> list:
    """Labels as a list of Python numbers (tensors, arrays and lists alike)."""
    if isinstance(values, Tensor):
        values = values.detach().cpu()
    return values.tolist() if hasattr(values, "tolist") else list(values)


def same_expression_pairs(table: list) -> int:
    """Unordered pairs of one identity and one known expression (``expression_counts``' table)."""
    return sum(n * (n - 1) // 2 for row in table for _, n in row)


def cross_expression_pairs(table: list) -> int:
    """Ordered pairs of one identity showing two different known expressions."""
    return sum(sum(n for _, n in row) ** 2 - sum(n * n for _, n in row) for row in table)


def cross_expression_quadruples(table: list) -> int:
    """Pairs of such cross-expression pairs from two different identities showing the same two expressions:
    per expression pair, with m_i the pairs identity i shows, ``((sum m_i)^2 - sum m_i^2) / 2``."""
    total: Counter = Counter()
    squares: Counter = Counter()
    for row in table:
        for (a, n_a), (b, n_b) in combinations(sorted(row), 2):
            total[a, b] += n_a * n_b
            squares[a, b] += (n_a * n_b) ** 2
    return sum((total[key] ** 2 - squares[key]) // 2 for key in total)


def unordered_cross_expression_pairs(table: list) -> int:
    """Unordered pairs of one identity showing two different known expressions."""
    return cross_expression_pairs(table) // 2


PAIRS_BUILT_ON = {SAME_EXPRESSION: same_expression_pairs, CROSS_EXPRESSION: unordered_cross_expression_pairs}
