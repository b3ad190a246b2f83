"""Relative expression weights: each expression term's weight set against the primary loss's pull.

The losses pull on the embedding with very different strengths (at the start of training on the sphere,
ArcFace's gradient is about 20 times PDM's), so an absolute weight of 0.1 means something else under each
primary. With ``training.expression_weights: relative`` a method's weight ``w`` for a term means "``w`` times
the primary's pull": before the first optimiser step the run measures, on its first batches, the gradient norm
at the embedding (the model's output) of the primary loss and of each expression term, unweighted, and trains
with ``w * ||g_primary|| / ||g_term||``. A term's norm is its per-batch norm averaged over the batches (a batch
where it has nothing to act on counts as 0), so with ``w = 1`` its average pull per step equals the primary's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from emoverify.registry import RELATIVE


@dataclass(frozen=True)
class WeightCalibration:
    """What a relative weighting measured and chose: ``gradient_norms`` per term (the primary's included),
    averaged over ``batches`` batches, the method's ``relative_weights``, the absolute ``weights`` trained with,
    and per term whose ratio could not be formed, the reason (its relative weight is then used as absolute)."""

    primary: str
    batches: int
    gradient_norms: dict[str, float]
    relative_weights: dict[str, float]
    weights: dict[str, float]
    reasons: dict[str, str]

    def record(self) -> dict:
        """The run record's fields (checkpoint, metrics.json's training facts, runs.csv columns)."""
        return {
            "expression_weights": RELATIVE,
            "calibration_batches": self.batches,
            **{f"grad_norm_{name}": value for name, value in self.gradient_norms.items()},
            **{f"relative_weight_{name}": value for name, value in self.relative_weights.items()},
            **{f"weight_{name}": value for name, value in self.weights.items()},
            "weight_reasons": "; ".join(f"{name}: {reason}" for name, reason in self.reasons.items()),
        }


def gradient_norms(objective, embedding: Tensor, ids: Tensor, emo: Tensor | None, sessions=None) -> dict[str, float]:
    """Per term of ``objective`` (a ``CombinedObjective``; the primary's first), the norm of its unweighted
    value's gradient with respect to ``embedding`` (B x D, all of it, so the Frobenius norm)."""
    at = embedding.detach().requires_grad_(True)
    values = objective.term_values(at, ids, emo, sessions)
    norms = {}
    for name, value in values.items():
        (gradient,) = torch.autograd.grad(value, at, retain_graph=True, allow_unused=True)
        norms[name] = 0.0 if gradient is None else float(gradient.detach().double().norm())
    return norms


def calibrated_weights(
    primary: str, relative_weights: Mapping[str, float], per_batch_norms: Sequence[Mapping[str, float]]
) -> WeightCalibration:
    """The absolute weights ``relative x ||g_primary|| / ||g_term||`` from each batch's ``gradient_norms``.

    Where a ratio cannot be formed (the primary's or the term's gradient is 0 on every batch, or the ratio is
    not finite) the term keeps its relative weight as an absolute one, and the reason says so.
    """
    if not per_batch_norms:
        raise ValueError("relative expression weights need at least one calibration batch")
    batches = len(per_batch_norms)
    norms = {name: sum(norm[name] for norm in per_batch_norms) / batches for name in per_batch_norms[0]}
    primary_norm = norms[primary]
    weights, reasons = {}, {}
    for name, relative in relative_weights.items():
        ratio = primary_norm / norms[name] if norms[name] > 0 else math.inf
        if not primary_norm > 0 or not math.isfinite(primary_norm):
            reasons[name] = (
                f"the primary loss {primary}'s gradient at the embedding was {primary_norm:g} on the {batches} "
                "calibration batches (nothing to scale against), so the relative weight is used as absolute"
            )
        elif norms[name] == 0:
            reasons[name] = (
                f"its gradient at the embedding was 0 on all {batches} calibration batches (no pair, quadruple or "
                "labelled image it could use there), so the relative weight is used as absolute"
            )
        elif not math.isfinite(relative * ratio):
            reasons[name] = (
                f"its gradient at the embedding ({norms[name]:g}) against the primary's ({primary_norm:g}) gives "
                "no finite weight, so the relative weight is used as absolute"
            )
        weights[name] = float(relative) if name in reasons else float(relative * ratio)
    return WeightCalibration(primary, batches, norms, dict(relative_weights), weights, reasons)
