"""The training objective: one identity loss plus weighted expression losses, built from the config."""

from __future__ import annotations

import math
from collections.abc import Mapping

from torch import Tensor, nn

from emoverify import losses
from emoverify.registry import EXPRESSION_LOSSES, PRIMARY_LOSSES, needs_expressions
from emoverify.training import across_sessions

AUXILIARY_LOSSES = EXPRESSION_LOSSES


class CombinedObjective(nn.Module):
    """``primary + sum(weight * aux)``, e.g. ``CombinedObjective("triplet", {"pdp": 0.1, "fbv": 0.1}, ...)``.

    ``primary`` is ``"triplet"`` (margin ``margin``, mining ``mining``),
    ``"arcface"`` (the Deng et al. softmax head over ``n_identities`` training
    identities, integer-coded 0..n_identities-1) or ``"arcface_geodesic"`` (the
    paper's III-B form); both ArcFace forms use ``arcface_margin``. ``aux``
    maps auxiliary loss names to weights. FBV's offsets come from
    :func:`losses.basis_offsets` with ``origin_expression`` (None when the data
    lack it) and ``fbv_scale``. The trainable parts (ArcFace head, composition
    net, expression classifier) are submodules, so pass ``objective.parameters()``
    to the optimiser together with the model's.
    """

    def __init__(
        self,
        primary: str,
        aux: Mapping[str, float] | None,
        *,
        embedding_dim: int,
        n_identities: int,
        n_expressions: int = 8,
        origin_expression: int | None = 5,
        margin: float = 0.2,
        mining: str = "all",
        arcface_scale: float = 30.0,
        arcface_margin: float = 0.5,
        fbv_scale: float = 1.0,
        pdm_exclude_same_session: bool = False,
    ):
        super().__init__()
        self.primary = primary
        self.pdm_exclude_same_session = pdm_exclude_same_session
        self.weights = _checked_weights(primary, dict(aux or {}))
        if mining not in losses.TRIPLET_MINING:
            raise ValueError(f"unknown triplet mining {mining!r}; allowed: {', '.join(losses.TRIPLET_MINING)}")
        self.margin = margin
        self.mining = mining
        self.arcface_margin = arcface_margin
        if primary == "arcface":
            self.arcface_head = losses.ArcFaceHead(embedding_dim, n_identities, arcface_scale, arcface_margin)
        if "fbv" in self.weights:
            offsets = losses.basis_offsets(n_expressions, embedding_dim, origin_expression, fbv_scale)
            self.register_buffer("fbv_offsets", offsets)
        if "ce" in self.weights:
            self.composition_net = losses.CompositionNet(embedding_dim, n_expressions)
        if "mtl" in self.weights:
            self.expression_classifier = losses.ExpressionClassifier(embedding_dim, n_expressions)

    @property
    def expression_terms(self) -> tuple[str, ...]:
        """The terms that use expression labels (every auxiliary loss does)."""
        return tuple(self.weights)

    @property
    def needs_expressions(self) -> bool:
        """Whether ``forward`` needs expression labels (codes; -1 = unknown): the registry's one rule."""
        return needs_expressions({"aux": self.weights})

    @property
    def needs_sessions(self) -> bool:
        """Whether ``forward`` needs session codes (PDM without its same-session pairs)."""
        return self.pdm_exclude_same_session and "pdm" in self.weights

    def forward(self, emb: Tensor, ids, emo=None, sessions=None) -> tuple[Tensor, dict[str, float]]:
        """Return the weighted total and each term's unweighted value (plus ``"total"``) for logging;
        ``sessions`` (codes, see ``pair_counts.session_codes``) only where PDM excludes same-session pairs."""
        if self.needs_expressions and emo is None:
            raise losses.LossInputError(
                f"the terms {', '.join(self.expression_terms)} need expression labels: pass emo (-1 = unknown)"
            )
        if self.needs_sessions and sessions is None:
            raise losses.LossInputError("pdm excludes same-session pairs here: pass sessions (codes per image)")
        values = {self.primary: self._primary_loss(emb, ids)}
        total = values[self.primary]
        for name, weight in self.weights.items():
            if name == "pdm" and self.needs_sessions:
                values[name] = across_sessions.pdm_across_sessions(emb, ids, emo, sessions)
                total = total + weight * values[name]
                continue
            values[name] = self._auxiliary_loss(name, emb, ids, emo)
            total = total + weight * values[name]
        terms = {name: float(value.detach()) for name, value in values.items()}
        terms["total"] = float(total.detach())
        return total, terms

    def pairs_used(self, ids, emo, sessions=None) -> dict[str, int]:
        """Per expression term, the pairs (or quadruples, or labelled samples) it used in this batch."""
        counts = {f"pairs_{name}": losses.pairs_used(name, ids.cpu(), emo.cpu()) for name in self.weights}
        if self.needs_sessions and sessions is not None:
            counts["pairs_pdm"] = across_sessions.pairs_across_sessions(ids.cpu(), emo.cpu(), sessions.cpu())
        return counts

    def _primary_loss(self, emb: Tensor, ids) -> Tensor:
        if self.primary == "triplet":
            return losses.triplet(emb, ids, margin=self.margin, mining=self.mining)
        if self.primary == "arcface":
            return self.arcface_head(emb, ids)
        return losses.arcface_geodesic(emb, ids, margin=self.arcface_margin)

    def _auxiliary_loss(self, name: str, emb: Tensor, ids, emo) -> Tensor:
        if name == "pdm":
            return losses.pdm(emb, ids, emo)
        if name == "pdp":
            return losses.pdp(emb, ids, emo)
        if name == "fbv":
            return losses.fbv(emb, ids, emo, self.fbv_offsets)
        if name == "ce":
            return losses.ce(emb, ids, emo, self.composition_net)
        return losses.mtl(emb, emo, self.expression_classifier)


def _checked_weights(primary: str, weights: dict[str, float]) -> dict[str, float]:
    if primary not in PRIMARY_LOSSES:
        raise ValueError(f"unknown primary loss {primary!r}; allowed: {', '.join(PRIMARY_LOSSES)}")
    unknown = sorted(set(weights) - set(AUXILIARY_LOSSES))
    if unknown:
        raise ValueError(
            f"unknown auxiliary loss(es) {', '.join(map(repr, unknown))}; allowed: {', '.join(AUXILIARY_LOSSES)}"
        )
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"the weight of auxiliary loss {name!r} must be a finite number >= 0, got {weight!r}")
    # a weight of 0 is no term at all: no parameters, no labels read, the same objective as the baseline
    return {name: float(weight) for name, weight in weights.items() if weight > 0}
