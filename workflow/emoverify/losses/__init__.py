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

One module per loss, named as the config names the loss: ``primary/`` (triplet, arcface, arcface_geodesic)
and ``expression/`` (pdm, pdp, fbv, ce, mtl). Each holds the loss function and one class (a
:class:`PrimaryLoss` or :class:`ExpressionLoss`) with its name, the labels it reads, how it counts pairs, the
same-person pairs it rests on, its session option and its forward pass; the registry and the config schema
take the names from these files, the pair-counts table and the objective ask the class. A new loss is one
module there (or a class passed to :func:`register`) plus its test.
"""

from emoverify.losses.base import (
    UNKNOWN,
    ExpressionLoss,
    LossInputError,
    LossSettings,
    PrimaryLoss,
    pairwise_sq_distances,
)
from emoverify.losses.catalog import across_session_terms, loss_class, pairs_used, person_pairs, register
from emoverify.losses.expression.ce import CompositionNet, ce
from emoverify.losses.expression.fbv import basis_offsets, fbv
from emoverify.losses.expression.mtl import ExpressionClassifier, mtl
from emoverify.losses.expression.pdm import pdm
from emoverify.losses.expression.pdp import pdp
from emoverify.losses.primary.arcface import ArcFaceHead
from emoverify.losses.primary.arcface_geodesic import arcface_geodesic
from emoverify.losses.primary.triplet import triplet

__all__ = [
    "UNKNOWN",
    "ArcFaceHead",
    "CompositionNet",
    "ExpressionClassifier",
    "ExpressionLoss",
    "LossInputError",
    "LossSettings",
    "PrimaryLoss",
    "across_session_terms",
    "arcface_geodesic",
    "basis_offsets",
    "ce",
    "fbv",
    "loss_class",
    "mtl",
    "pairs_used",
    "pairwise_sq_distances",
    "pdm",
    "pdp",
    "person_pairs",
    "register",
    "triplet",
]
