"""The losses of the paper (section III): identity losses and expression-geometry losses.

Every function takes a batch of embeddings ``emb`` (B x D), integer identities
``ids`` (B) and, for the expression losses, integer expressions ``emo`` (B):
indices into :data:`emoverify.vocabulary.EXPRESSIONS`, ``-1`` meaning unknown,
which excludes the sample from the expression losses (it still serves the
identity losses). Each loss returns a scalar: the mean over the valid pairs,
triplets or quadruples of the batch. A batch without any returns a zero that is
still attached to the graph, so ``backward()`` works and training goes on.

All losses are vectorised: B x B matrices (squared distances through the Gram
matrix) or closed-form sums per group; none enumerates triplets or quadruples,
and memory stays O(B^2) (CE: O(pairs * D)). Embeddings are used as
given: normalise them in the model when the method wants a sphere (the two
ArcFace forms normalise internally; the paper drops the sphere for FBV).

``d2(i, j)`` below is the squared Euclidean distance ``||emb[i] - emb[j]||^2``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emoverify.registry import MINING_MODES

UNKNOWN = -1
TRIPLET_MINING = MINING_MODES
_ARC_EPS = 1e-7  # keeps acos away from +-1, where its derivative is infinite


class LossInputError(ValueError):
    """A batch the losses cannot interpret: wrong shape, dtype or label range."""


# --------------------------------------------------------------------------- checks


def _labels(emb: Tensor, labels, name: str) -> Tensor:
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


def _check_embeddings(emb: Tensor) -> None:
    if not isinstance(emb, Tensor) or emb.dim() != 2:
        shape = tuple(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
        raise LossInputError(f"emb must be a (batch x dim) tensor, got {shape}; flatten the model output first")


def _identities(emb: Tensor, ids) -> Tensor:
    _check_embeddings(emb)
    return _labels(emb, ids, "ids")


def _expressions(emb: Tensor, emo, n_expressions: int | None = None) -> Tensor:
    emo = _labels(emb, emo, "emo")
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


def _zero(emb: Tensor) -> Tensor:
    """A zero that keeps the graph alive, for batches without anything to penalise."""
    return emb.sum() * 0.0


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` holds; 0 (with a gradient) when it holds nowhere."""
    return torch.where(mask, values, values.new_zeros(())).sum() / mask.sum().clamp_min(1)


def _same_identity(ids: Tensor) -> Tensor:
    """Ordered pairs (i, j), i != j, of one identity."""
    eye = torch.eye(len(ids), dtype=torch.bool, device=ids.device)
    return (ids[:, None] == ids[None, :]) & ~eye


def _different_known_expressions(emo: Tensor) -> Tensor:
    known = emo != UNKNOWN
    return (emo[:, None] != emo[None, :]) & known[:, None] & known[None, :]


def _arc(cosine: Tensor) -> Tensor:
    """Geodesic distance on the unit sphere for a cosine similarity."""
    return torch.acos(cosine.clamp(-1.0 + _ARC_EPS, 1.0 - _ARC_EPS))


# --------------------------------------------------------------------------- triplet (III-A)


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
    if mining not in TRIPLET_MINING:
        raise ValueError(f"unknown triplet mining {mining!r}; allowed: {', '.join(TRIPLET_MINING)}")
    ids = _identities(emb, ids)
    if emb.shape[0] == 0:
        return _zero(emb)
    d2 = pairwise_sq_distances(emb)
    positive = _same_identity(ids)
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
    return _masked_mean(hinge, positive.any(1) & negative.any(1))


def _semi_hard(d2, positive, sorted_negatives, n_negatives, margin) -> Tensor:
    first_farther = torch.searchsorted(sorted_negatives.detach(), d2.detach().contiguous(), right=True)
    has_farther = first_farther < n_negatives[:, None]
    farthest = (n_negatives - 1).clamp_min(0)[:, None].expand_as(first_farther)
    chosen = sorted_negatives.gather(1, torch.where(has_farther, first_farther, farthest))
    hinge = (d2 - chosen + margin).clamp_min(0.0)
    return _masked_mean(hinge, positive & (n_negatives > 0)[:, None])


# --------------------------------------------------------------------------- ArcFace (III-B)


def arcface_geodesic(emb: Tensor, ids, margin: float = 0.5) -> Tensor:
    """The paper's ArcFace form (III-B): geodesic distances to identity centroids, with a margin.

    Embeddings are L2-normalised to ``z``. For anchor ``a``:

    - its own centroid is the leave-one-out mean direction of the *other* batch
      samples of its identity, ``normalise(sum_{j != a, ids[j] == ids[a]} z_j)``,
      so an anchor is never compared with a centroid that contains itself;
    - each other identity ``c`` in the batch has centroid ``normalise(sum_{ids[j] == c} z_j)``.

    The loss is ``max(0, arc(z_a, own) - arc(z_a, c) + margin)`` with
    ``arc = acos(cosine)`` (arc length on the unit sphere, in radians), averaged
    over all (anchor, other identity) pairs. Anchors that are alone with their
    identity in the batch have no own centroid and are not anchors (they still
    form their identity's centroid for the others).
    """
    ids = _identities(emb, ids)
    if emb.shape[0] == 0:
        return _zero(emb)
    z = F.normalize(emb, dim=1)
    _, identity, counts = torch.unique(ids, return_inverse=True, return_counts=True)
    membership = F.one_hot(identity, len(counts)).to(z.dtype)
    sums = membership.T @ z
    own_centroid = F.normalize(sums[identity] - z, dim=1)
    centroids = F.normalize(sums, dim=1)
    own_arc = _arc((z * own_centroid).sum(1))
    other_arc = _arc(z @ centroids.T)
    hinge = (own_arc[:, None] - other_arc + margin).clamp_min(0.0)
    valid = (counts[identity] > 1)[:, None] & (membership == 0)
    return _masked_mean(hinge, valid)


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

    def __init__(self, embedding_dim: int, n_classes: int, scale: float = 30.0, margin: float = 0.5):
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

    def logits(self, emb: Tensor, ids: Tensor) -> Tensor:
        """Scaled logits with the angular margin applied to each sample's own class."""
        cosine = F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).T
        target_cosine = cosine.gather(1, ids[:, None]).squeeze(1)
        shifted = _arc(target_cosine) + self.margin
        target_logit = torch.where(
            shifted < math.pi, torch.cos(shifted), target_cosine - self.margin * math.sin(self.margin)
        )
        return self.scale * cosine.scatter(1, ids[:, None], target_logit[:, None])

    def forward(self, emb: Tensor, ids) -> Tensor:
        ids = _identities(emb, ids)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.n_classes):
            raise LossInputError(
                f"ArcFace head has {self.n_classes} classes but got identity codes {int(ids.min())}..{int(ids.max())}; "
                f"integer-code the training identities as 0..{self.n_classes - 1}"
            )
        per_sample = F.cross_entropy(self.logits(emb, ids), ids, reduction="none")
        return per_sample.sum() / max(len(ids), 1)


# --------------------------------------------------------------------------- grouped sums of squares


def _dense_codes(labels: Tensor) -> Tensor:
    """Labels renumbered 0..n-1 (in sorted order)."""
    return torch.unique(labels, return_inverse=True)[1]


def _cell_statistics(values: Tensor, cell: Tensor, n_cells: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per cell of the rows of ``values`` (n x D): size, mean, and centred sum of squares ``sum ||v - mean||^2``."""
    size = torch.bincount(cell, minlength=n_cells).to(values.dtype)
    mean = values.new_zeros(n_cells, values.shape[1]).index_add(0, cell, values) / size.clamp_min(1)[:, None]
    spread = values.new_zeros(n_cells).index_add(0, cell, (values - mean[cell]).pow(2).sum(1))
    return size, mean, spread


def _sum_sq_differences_across_members(values: Tensor, group: Tensor, member: Tensor) -> tuple[Tensor, Tensor]:
    """``sum ||v_p - v_q||^2`` over unordered pairs of rows in one group with different members, and their number.

    Per group, with n_m, mu_m, S_m the size, mean and spread of member m's rows
    and N, mu the group's: ``sum_m S_m (N - n_m) + N sum_m n_m ||mu_m - mu||^2``;
    every term is non-negative, so the sum is exact to rounding even near 0.
    """
    n_groups = int(group.max()) + 1 if len(group) else 1
    n_members = int(member.max()) + 1 if len(member) else 1
    size, mean, spread = _cell_statistics(values, group * n_members + member, n_groups * n_members)
    size, spread = size.view(n_groups, n_members), spread.view(n_groups, n_members)
    mean = mean.view(n_groups, n_members, -1)
    group_size = size.sum(1, keepdim=True)
    group_mean = (size[..., None] * mean).sum(1, keepdim=True) / group_size.clamp_min(1)[..., None]
    within = (spread * (group_size - size)).sum()
    between = (group_size * size * (mean - group_mean).pow(2).sum(2)).sum()
    count = (group_size.squeeze(1).pow(2) - size.pow(2).sum(1)).sum() / 2
    return within + between, count


# --------------------------------------------------------------------------- PDM, PDP (III-C, III-D)


def pdm(emb: Tensor, ids, emo) -> Tensor:
    """Pairwise distance minimisation, eq. (2): mean ``d2(i, j)`` over pairs of one identity and one known expression.

    Closed form per (identity, expression) cell: its n samples' pairs sum to
    ``n * sum ||emb - cell mean||^2``, so time and memory are O(B * D).
    """
    ids = _identities(emb, ids)
    emo = _expressions(emb, emo)
    if emb.shape[0] == 0:
        return _zero(emb)
    span = int(emo.max()) + 2  # codes -1 .. max
    _, cell, size = torch.unique(ids * span + emo + 1, return_inverse=True, return_counts=True)
    size = size.to(emb.dtype)
    cell_mean = emb.new_zeros(len(size), emb.shape[1]).index_add(0, cell, emb) / size[:, None]
    cell_size = size[cell]
    known = emo != UNKNOWN
    total = torch.where(known, cell_size * (emb - cell_mean[cell]).pow(2).sum(1), 0.0).sum()
    n_pairs = torch.where(known, cell_size - 1, 0.0).sum() / 2
    return total / n_pairs.clamp_min(1)


def pdp(emb: Tensor, ids, emo) -> Tensor:
    """Pairwise distance preservation, eq. (3).

    For each unordered expression pair {a, b}, a != b, take the unordered
    same-identity pairs (i, j) with expressions {a, b}; over every two such
    pairs from different identities, ``(d2(i, j) - d2(k, l))^2``. The loss is
    the mean over all those pairs of pairs (the quadruples of the paper),
    computed in closed form from per-(expression pair, identity) counts, means
    and sums of squares of the distances: memory O(B^2), no quadruple is enumerated.
    """
    ids = _identities(emb, ids)
    emo = _expressions(emb, emo)
    pairs = torch.triu(_same_identity(ids) & _different_known_expressions(emo), diagonal=1)
    first, second = pairs.nonzero(as_tuple=True)
    distances = pairwise_sq_distances(emb)[first, second]
    low, high = torch.minimum(emo[first], emo[second]), torch.maximum(emo[first], emo[second])
    expression_pair = _dense_codes(low * (int(emo.max()) + 1) + high) if len(first) else low
    identity = _dense_codes(ids)[first]
    total, count = _sum_sq_differences_across_members(distances[:, None], expression_pair, identity)
    return total / count.clamp_min(1)


# --------------------------------------------------------------------------- FBV (III-E)


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
    ids = _identities(emb, ids)
    if offsets.dim() != 2 or offsets.shape[1] != emb.shape[1]:
        raise LossInputError(
            f"FBV offsets must be (n_expressions x {emb.shape[1]}), got shape {tuple(offsets.shape)}; "
            "build them with basis_offsets(n_expressions, embedding_dim)"
        )
    emo = _expressions(emb, emo, n_expressions=offsets.shape[0])
    known = (emo != UNKNOWN).nonzero(as_tuple=True)[0]
    at_origin = emb[known] - offsets.to(emb)[emo[known]]
    total, count = _sum_sq_differences_across_members(at_origin, _dense_codes(ids[known]), emo[known])
    return total / count.clamp_min(1)


# --------------------------------------------------------------------------- CE (III-F)


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
    ids = _identities(emb, ids)
    emo = _expressions(emb, emo, n_expressions=net.n_expressions)
    source, target = (_same_identity(ids) & _different_known_expressions(emo)).nonzero(as_tuple=True)
    combination, which = torch.unique(source * net.n_expressions + emo[target], return_inverse=True)
    rows = torch.div(combination, net.n_expressions, rounding_mode="floor")
    predictions = net.compose(net.project(emb)[rows], emo[rows], combination % net.n_expressions)
    residual = predictions[which] - emb[target]
    return residual.pow(2).sum() / max(len(source), 1)


# --------------------------------------------------------------------------- multi-task (III-G)


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
    _check_embeddings(emb)
    emo = _expressions(emb, emo, n_expressions=classifier.n_expressions)
    logits = classifier(emb)
    per_sample = F.cross_entropy(logits, emo.clamp_min(0), reduction="none")
    return _masked_mean(per_sample, emo != UNKNOWN)


# --------------------------------------------------------------------------- how many pairs each loss used


def pairs_used(name: str, ids, emo) -> int:
    """How many pairs (PDM, FBV, CE: same identity; FBV and CE ordered), quadruples (PDP) or labelled samples
    (MTL) the expression loss ``name`` averages over in this batch: 0 means it trained nothing."""
    ids = torch.as_tensor(ids)
    emo = torch.as_tensor(emo)
    known = emo != UNKNOWN
    same_identity = ids[:, None] == ids[None, :]
    both_known = known[:, None] & known[None, :]
    if name == "mtl":
        return int(known.sum())
    if name == "pdm":
        same = torch.triu(same_identity & both_known & (emo[:, None] == emo[None, :]), diagonal=1)
        return int(same.sum())
    cross = same_identity & both_known & (emo[:, None] != emo[None, :])
    if name in ("fbv", "ce"):
        return int(cross.sum())
    if name == "pdp":
        first, second = torch.triu(cross, diagonal=1).nonzero(as_tuple=True)
        low, high = torch.minimum(emo[first], emo[second]), torch.maximum(emo[first], emo[second])
        quadruples = 0
        for expression_pair in torch.unique(low * 1000 + high):
            members = ids[first][low * 1000 + high == expression_pair]
            per_identity = torch.unique(members, return_counts=True)[1]
            quadruples += int((per_identity.sum() ** 2 - per_identity.pow(2).sum()) // 2)
        return quadruples
    raise ValueError(f"unknown expression loss {name!r}")
