"""Tuning candidates: every grid point of a method (its expression-loss weights, or a baseline's own knob) as a
run name of its own, ``<method>__<knob><value>...``, so a grid change adds or drops only the candidates whose
settings changed and leaves the others' runs in place.

The grids come from the ``tuning`` section (``expression_weight`` for every expression loss of a method,
crossed with ``fbv_scale`` where FBV is used; ``margin`` for triplet baselines, ``arcface_margin`` for ArcFace
ones) or from a method's own ``grid``. A method and its matched baseline get the same number of candidates:
equal budgets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from emoverify.registry import EXPRESSION_WEIGHT, expression_losses, needs_expressions

SEPARATOR = "__"  # between a method's name and its candidate's settings
SHORT_NAMES = {EXPRESSION_WEIGHT: "w", "margin": "m", "arcface_margin": "am", "fbv_scale": "s", "learning_rate": "lr"}


class TuningConfigError(ValueError):
    """A tuning grid that cannot give a fair selection; the message says what to change."""


@dataclass(frozen=True)
class Candidate:
    """One grid point of a method: the run name, the settings it varies, and what training reads."""

    name: str
    method: str
    settings: dict = field(hash=False)
    spec: dict = field(hash=False)  # the method spec with this candidate's expression-loss weights
    training: dict = field(hash=False)  # training keys this candidate overrides


def value_slug(value: float) -> str:
    """0.1 -> '0p1', 1.0 -> '1', 1e-05 -> '1em05': a grid value as a wildcard-safe name part."""
    return format(float(value), "g").replace(".", "p").replace("-", "m").replace("+", "")


def is_candidate(name: str) -> bool:
    return SEPARATOR in name


def parent_method(name: str) -> str:
    """The method a candidate run belongs to (a plain method name is its own parent)."""
    return name.split(SEPARATOR, 1)[0]


def method_grid(config: dict, method: str) -> dict[str, list]:
    """The grid of one method: its own ``grid``, else the tuning section's defaults for its kind."""
    spec = config["methods"][method]
    if spec.get("grid"):
        return {knob: sorted(values) for knob, values in spec["grid"].items()}
    tuning = config["tuning"]
    if needs_expressions(spec):
        grid = {EXPRESSION_WEIGHT: sorted(tuning[EXPRESSION_WEIGHT])}
        if "fbv" in spec.get("aux", {}) and len(tuning["fbv_scale"]) > 1:
            grid["fbv_scale"] = sorted(tuning["fbv_scale"])
        return grid
    knob = "margin" if spec["primary"] == "triplet" else "arcface_margin"
    return {knob: sorted(tuning[knob])}


def configured_setting(config: dict, method: str, knob: str) -> float:
    """The value a method runs with untuned: the fallback when a fold cannot rank candidates."""
    spec = config["methods"][method]
    aux = spec.get("aux", {})
    if knob == EXPRESSION_WEIGHT:
        weights = {weight for name, weight in aux.items() if name in expression_losses()}
        if len(weights) != 1:
            raise TuningConfigError(
                f"method {method}: expression_weight moves every expression loss together, but its weights "
                f"differ ({aux}); give it a grid per loss (grid: {{pdp: [...], fbv: [...]}})"
            )
        return weights.pop()
    if knob in expression_losses():
        return aux.get(knob, 0.0)
    return config["training"][knob]


def run_spec(spec: dict) -> dict:
    """A method spec as a run trains with it: without its tuning grid (which only says what to try)."""
    return {key: value for key, value in spec.items() if key != "grid"}


def _candidate(config: dict, method: str, settings: dict) -> Candidate:
    spec = config["methods"][method]
    aux = dict(spec.get("aux", {}))
    training = {}
    for knob, value in settings.items():
        if knob == EXPRESSION_WEIGHT:
            aux = dict.fromkeys(aux, value)
        elif knob in expression_losses():
            aux[knob] = value
        else:
            training[knob] = value
    name = method + SEPARATOR + "_".join(f"{SHORT_NAMES.get(k, k)}{value_slug(v)}" for k, v in settings.items())
    trained = run_spec(spec)
    if aux:
        trained["aux"] = aux
    return Candidate(name, method, dict(settings), trained, training)


def method_candidates(config: dict, method: str) -> list[Candidate]:
    """Every grid point of ``method``, smallest settings first (the order ties are broken in)."""
    grid = method_grid(config, method)
    knobs = list(grid)
    return [_candidate(config, method, dict(zip(knobs, values))) for values in itertools.product(*grid.values())]


def default_candidate(config: dict, method: str) -> Candidate:
    """The candidate with the method's configured settings: the fallback of a fold that cannot rank. It need
    not be a grid point: outside the grid it trains beside the grid's candidates and is never ranked."""
    wanted = {knob: configured_setting(config, method, knob) for knob in method_grid(config, method)}
    for candidate in method_candidates(config, method):
        if candidate.settings == wanted:
            return candidate
    return _candidate(config, method, wanted)


def trained_candidates(config: dict, method: str) -> list[Candidate]:
    """What a tuned method trains: its grid's candidates, and its fallback where that is not a grid point."""
    candidates = method_candidates(config, method)
    fallback = default_candidate(config, method)
    return candidates if fallback in candidates else [*candidates, fallback]


def check_budgets(config: dict, methods: list[str], baseline_of) -> None:
    """Each method has as many grid candidates as its matched baseline (same budget) and a configured setting
    (its fallback, checked to be one setting)."""
    for method in methods:
        default_candidate(config, method)
        baseline = baseline_of(method, config)
        if baseline is None:
            continue
        ours, theirs = len(method_candidates(config, method)), len(method_candidates(config, baseline))
        if ours != theirs:
            raise TuningConfigError(
                f"unequal tuning budgets: {method} has {ours} candidates, its baseline {baseline} {theirs}; "
                f"give both grids the same number of points (tuning.expression_weight, tuning.margin, or a grid)"
            )


def all_candidates(config: dict, methods: list[str]) -> dict[str, Candidate]:
    """Every candidate (fallbacks outside the grid included) of ``methods`` by run name."""
    return {candidate.name: candidate for method in methods for candidate in trained_candidates(config, method)}
