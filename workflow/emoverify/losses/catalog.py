"""The loss classes by name: the modules of ``emoverify/losses/<kind>/`` and the classes added with
:func:`register`."""

from __future__ import annotations

import importlib

from emoverify import registry
from emoverify.losses.base import ExpressionLoss, PrimaryLoss

BASES: dict[str, type] = {registry.PRIMARY: PrimaryLoss, registry.EXPRESSION: ExpressionLoss}


def register(loss_class: type) -> type:
    """Add a loss class (a subclass of PrimaryLoss or ExpressionLoss with a ``name``) to the registry, so
    that the config may name it and the objective builds it; usable as a class decorator."""
    kinds = [kind for kind, base in BASES.items() if isinstance(loss_class, type) and issubclass(loss_class, base)]
    if not kinds:
        raise TypeError(f"{loss_class!r} is neither a PrimaryLoss nor an ExpressionLoss")
    registry.add_loss(kinds[0], loss_class)
    return loss_class


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
