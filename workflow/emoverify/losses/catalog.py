"""The loss classes by name: the modules of ``emoverify/losses/<kind>/`` and the classes added with
:func:`register`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from emoverify import registry
from emoverify.losses.base import PAIRS_BUILT_ON, ExpressionLoss, PrimaryLoss

BASES: dict[str, type] = {registry.PRIMARY: PrimaryLoss, registry.EXPRESSION: ExpressionLoss}


def register(loss_class: type) -> type:
    """Add a loss class (a subclass of PrimaryLoss or ExpressionLoss with a ``name``) to the registry, so
    that the config may name it and the objective builds it; usable as a class decorator."""
    kinds = [kind for kind, base in BASES.items() if isinstance(loss_class, type) and issubclass(loss_class, base)]
    if not kinds:
        raise TypeError(f"{loss_class!r} is neither a PrimaryLoss nor an ExpressionLoss")
    if kinds[0] == registry.EXPRESSION:
        _check_pair_declarations(loss_class)
    registry.add_loss(kinds[0], loss_class)
    return loss_class


def _check_pair_declarations(loss_class: type) -> None:
    """An expression loss's ``built_on`` and ``session_option`` are ones the pair counts and the objective can
    use."""
    if loss_class.built_on is not None and loss_class.built_on not in PAIRS_BUILT_ON:
        raise ValueError(
            f"loss {loss_class.__name__}: built_on must be one of {', '.join(PAIRS_BUILT_ON)} or None, "
            f"got {loss_class.built_on!r}"
        )
    option = loss_class.session_option
    if option is None:
        return
    if not isinstance(option, str) or not option.isidentifier():
        raise ValueError(f"loss {loss_class.__name__}: session_option must be a method key, got {option!r}")
    for method in ("across_sessions", "count_pairs_across_sessions"):
        if getattr(loss_class, method) is getattr(ExpressionLoss, method):
            raise TypeError(f"loss {loss_class.__name__} has the session option {option!r} but no {method}")


def loss_class(kind: str, name: str) -> type:
    """The class of the ``kind`` loss ``name``: an added one, or the one class of its module."""
    if name not in registry.loss_names(kind):
        raise ValueError(f"unknown {kind} loss {name!r}; allowed: {', '.join(registry.loss_names(kind))}")
    added = registry.added_loss(kind, name)
    if added is not None:
        return added
    module = importlib.import_module(f"emoverify.losses.{kind}.{name}")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BASES[kind]) and getattr(value, "name", None) == name
    ]
    if len(classes) != 1:
        raise TypeError(f"{module.__file__} must define one {BASES[kind].__name__} named {name!r}")
    return classes[0]


def pairs_used(name: str, ids, emo) -> int:
    """How many pairs (PDM, FBV, CE: same identity; FBV and CE ordered), quadruples (PDP) or labelled samples
    (MTL) the expression loss ``name`` averages over in this batch: 0 means it trained nothing."""
    return loss_class(registry.EXPRESSION, name).count_pairs(ids, emo)


def person_pairs(name: str, ids, emo) -> int:
    """The unordered same-person pairs the expression loss ``name`` rests on in this batch (0 for a loss of
    single images, MTL); given session codes as ``ids``, those within one session."""
    return loss_class(registry.EXPRESSION, name).person_pairs(ids, emo)


def across_session_terms(method: Mapping) -> tuple[str, ...]:
    """The method's weighted expression terms that average only over pairs recorded in different sessions:
    those whose loss has a ``session_option`` the method sets (``pdm_exclude_same_session``)."""
    weighted = [name for name, weight in method.get("aux", {}).items() if weight > 0]
    return tuple(
        sorted(name for name in weighted if method.get(loss_class(registry.EXPRESSION, name).session_option or ""))
    )
