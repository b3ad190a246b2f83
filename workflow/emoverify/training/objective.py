"""The training objective: one identity loss plus weighted expression losses, built from the config."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from torch import Tensor, nn

from emoverify import registry
from emoverify.losses import LossInputError, LossSettings, loss_class
from emoverify.losses.base import EXPRESSION_LABELS


class CombinedObjective(nn.Module):
    """``primary + sum(weight * aux)``, e.g. ``CombinedObjective("triplet", {"pdp": 0.1, "fbv": 0.1}, settings)``.

    ``primary`` names an identity loss (``triplet``, ``arcface``: the Deng et al. softmax head over
    ``settings.n_identities`` training identities, integer-coded 0..n_identities-1, or ``arcface_geodesic``:
    the paper's III-B form); ``aux`` maps expression loss names to weights. Each term is the class of its
    loss module (see :mod:`emoverify.losses`), built from ``settings``. The trainable parts (ArcFace head,
    composition net, expression classifier) are submodules, so pass ``objective.parameters()`` to the
    optimiser together with the model's. ``across_sessions`` names the terms that average only over pairs
    recorded in different sessions (``losses.across_session_terms(method)``: each loss's session option).
    """

    def __init__(
        self,
        primary: str,
        aux: Mapping[str, float] | None,
        settings: LossSettings,
        *,
        across_sessions: Iterable[str] = (),
    ):
        super().__init__()
        self.primary = primary
        self.weights = _checked_weights(primary, dict(aux or {}))
        self.primary_loss = loss_class(registry.PRIMARY, primary)(settings)
        # built in name order, so a run's random draws do not depend on the order the config lists its terms
        self.terms = nn.ModuleDict(
            {name: loss_class(registry.EXPRESSION, name)(settings) for name in sorted(self.weights)}
        )
        self.across_sessions = tuple(name for name in sorted(set(across_sessions)) if name in self.weights)
        for name in self.across_sessions:
            if self.terms[name].session_option is None:
                raise ValueError(f"the {name} loss cannot leave out same-session pairs: it has no session option")

    @property
    def expression_terms(self) -> tuple[str, ...]:
        """The terms that read expression labels."""
        return tuple(name for name in self.weights if EXPRESSION_LABELS in self.terms[name].reads)

    @property
    def needs_expressions(self) -> bool:
        """Whether ``forward`` needs expression labels (codes; -1 = unknown)."""
        return bool(self.expression_terms)

    @property
    def needs_sessions(self) -> bool:
        """Whether ``forward`` needs session codes (a term without its same-session pairs)."""
        return bool(self.across_sessions)

    def forward(self, emb: Tensor, ids, emo=None, sessions=None) -> tuple[Tensor, dict[str, float]]:
        """Return the weighted total and each term's unweighted value (plus ``"total"``) for logging;
        ``sessions`` (codes, see ``pair_counts.session_codes``) only where a term excludes same-session pairs."""
        values = self.term_values(emb, ids, emo, sessions)
        total = values[self.primary]
        for name, weight in self.weights.items():
            total = total + weight * values[name]
        terms = {name: float(value.detach()) for name, value in values.items()}
        terms["total"] = float(total.detach())
        return total, terms

    def term_values(self, emb: Tensor, ids, emo=None, sessions=None) -> dict[str, Tensor]:
        """Each term's unweighted value (the primary's first, then the expression terms in name order), still
        attached to the graph: what ``forward`` weights and sums."""
        if self.needs_expressions and emo is None:
            raise LossInputError(
                f"the terms {', '.join(self.expression_terms)} need expression labels: pass emo (-1 = unknown)"
            )
        if self.needs_sessions and sessions is None:
            raise LossInputError(
                f"{', '.join(self.across_sessions)} exclude(s) same-session pairs here: pass sessions (codes per image)"
            )
        values = {self.primary: self.primary_loss(emb, ids)}
        for name in self.weights:
            if name in self.across_sessions:
                values[name] = self.terms[name].across_sessions(emb, ids, emo, sessions)
            else:
                values[name] = self.terms[name](emb, ids, emo)
        return values

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Replace the expression terms' weights (the same terms, each a finite number > 0): what a relative
        weighting computes before the first step (see ``training.calibration``)."""
        if set(weights) != set(self.weights):
            raise ValueError(f"new weights must name the terms {sorted(self.weights)}, got {sorted(weights)}")
        checked = _checked_weights(self.primary, dict(weights))
        if set(checked) != set(self.weights):
            raise ValueError(f"every term's new weight must be > 0, got {dict(weights)}")
        self.weights = checked

    def pairs_used(self, ids, emo, sessions=None) -> dict[str, int]:
        """Per expression term, the pairs (or quadruples, or labelled samples) it used in this batch."""
        ids, emo = ids.cpu(), emo.cpu()
        counts = {}
        for name in self.weights:
            if name in self.across_sessions and sessions is not None:
                counts[f"pairs_{name}"] = self.terms[name].count_pairs_across_sessions(ids, emo, sessions.cpu())
            else:
                counts[f"pairs_{name}"] = self.terms[name].count_pairs(ids, emo)
        return counts


def _checked_weights(primary: str, weights: dict[str, float]) -> dict[str, float]:
    if primary not in registry.primary_losses():
        raise ValueError(f"unknown primary loss {primary!r}; allowed: {', '.join(registry.primary_losses())}")
    allowed = registry.expression_losses()
    unknown = sorted(set(weights) - set(allowed))
    if unknown:
        raise ValueError(f"unknown auxiliary loss(es) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"the weight of auxiliary loss {name!r} must be a finite number >= 0, got {weight!r}")
    # a weight of 0 is no term at all: no parameters, no labels read, the same objective as the baseline.
    # Terms in name order: the total's float rounding (and so the run) must not depend on how aux was spelt.
    return {name: float(weights[name]) for name in sorted(weights) if weights[name] > 0}
