"""The paper's ArcFace form (III-B): geodesic distances to identity centroids, with a margin."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from emoverify.losses.base import LossSettings, PrimaryLoss, arc, attached_zero, checked_identities, masked_mean


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
    ids = checked_identities(emb, ids)
    if emb.shape[0] == 0:
        return attached_zero(emb)
    z = F.normalize(emb, dim=1)
    _, identity, counts = torch.unique(ids, return_inverse=True, return_counts=True)
    membership = F.one_hot(identity, len(counts)).to(z.dtype)
    sums = membership.T @ z
    own_centroid = F.normalize(sums[identity] - z, dim=1)
    centroids = F.normalize(sums, dim=1)
    own_arc = arc((z * own_centroid).sum(1))
    other_arc = arc(z @ centroids.T)
    hinge = (own_arc[:, None] - other_arc + margin).clamp_min(0.0)
    valid = (counts[identity] > 1)[:, None] & (membership == 0)
    return masked_mean(hinge, valid)


class ArcFaceGeodesic(PrimaryLoss):
    """:func:`arcface_geodesic` with the settings' ``arcface_margin``."""

    name = "arcface_geodesic"

    def __init__(self, settings: LossSettings):
        super().__init__(settings)
        self.margin = settings.arcface_margin

    def forward(self, emb: Tensor, ids) -> Tensor:
        return arcface_geodesic(emb, ids, margin=self.margin)
