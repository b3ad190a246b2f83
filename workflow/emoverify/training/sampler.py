"""P identities x K images per batch, with as many expressions per identity as it has."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import zip_longest

import numpy as np
from torch.utils.data import Sampler

UNKNOWN = -1
# Each epoch's batches, drawn once per process: samplers on the same labels, P, K, seed and epoch length (the
# runs of one training job, which see identical batches) share them; the draw itself is deterministic.
_DRAWN: dict[tuple, list[list[int]]] = {}
_DRAWN_LIMIT = 4096  # epochs kept; a few dozen batch lists of a few dozen ints each


class PKBatchSampler(Sampler[list[int]]):
    """Batches of ``p`` distinct identities x ``k`` images each, as lists of dataset indices.

    Use as ``DataLoader(dataset, batch_sampler=PKBatchSampler(ids, emo, p, k, seed))``.

    - Identities are dealt from shuffled rounds, so within an epoch each
      identity appears about equally often and never twice in one batch.
    - Each identity's ``k`` images are picked round-robin over its expressions
      (known expressions in a random order, then its unknown-expression
      images), a random image from each, so the identity shows
      ``min(k, number of its known expressions)`` distinct known expressions:
      the pairs that PDP, FBV and CE need. With ``pairs`` each turn takes two
      images of an expression where the identity has them: the same-expression
      pairs PDM needs. With every expression unknown (-1), the ``k`` images are
      a uniform random draw: label-agnostic batches.
    - The expressions given here only shape the batches: pass the same ones to
      every run that is to be compared (the study's batch labels), whatever
      labels its losses read, so that all runs see identical batches.
    - An identity with fewer than ``k`` images shows all of them, then repeats
      them (sampling with replacement), so every batch has ``p * k`` entries;
      such repeats are identical images, which the losses treat as zero-distance pairs.
    - Deterministic for ``seed``; :meth:`set_epoch` changes the draw
      deterministically. ``len()`` is ``batches_per_epoch`` or, by default,
      enough batches to show about every image once. An epoch is drawn once
      per process and reused by every sampler with the same arguments.
    """

    def __init__(
        self,
        ids: Sequence,
        emo: Sequence[int],
        p: int,
        k: int,
        seed: int,
        batches_per_epoch: int | None = None,
        pairs: bool = False,
    ):
        super().__init__()
        ids, emo = _as_list(ids), [int(e) for e in _as_list(emo)]
        _check_arguments(ids, emo, p, k, batches_per_epoch)
        self._images = _images_by_identity_and_expression(ids, emo)
        # per identity, drawn from every batch: its known expressions and each expression's images as an array
        # (a permutation of the array draws what one of the list draws, without converting the list each time)
        self._known = [[e for e in buckets if e != UNKNOWN] for buckets in self._images]
        self._last = [[UNKNOWN] if UNKNOWN in buckets else [] for buckets in self._images]
        self._arrays = [{e: np.asarray(images) for e, images in buckets.items()} for buckets in self._images]
        self.p, self.k, self.seed, self.per_turn = p, k, seed, 2 if pairs else 1
        self.batches_per_epoch = batches_per_epoch or max(1, math.ceil(len(ids) / (p * k)))
        self.epoch = 0
        self._arguments = (tuple(ids), tuple(emo), p, k, seed, self.batches_per_epoch, self.per_turn)

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of epoch ``epoch`` on the next iteration."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        key = (self._arguments, self.epoch)
        if key not in _DRAWN:
            if len(_DRAWN) >= _DRAWN_LIMIT:
                _DRAWN.clear()
            _DRAWN[key] = self._draw_epoch()
        for batch in _DRAWN[key]:
            yield list(batch)  # a copy: the caller may change its batch

    def _draw_epoch(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        identities = _shuffled_rounds(len(self._images), rng)
        batches = []
        for _ in range(self.batches_per_epoch):
            batch: list[int] = []
            for identity in _distinct(identities, self.p):
                batch.extend(self._images_of(identity, rng))
            batches.append(batch)
        return batches

    def _images_of(self, identity: int, rng: np.random.Generator) -> list[int]:
        buckets, known = self._arrays[identity], self._known[identity]
        # a permutation of fewer than two items draws nothing from rng, so those are skipped
        order = ([known[i] for i in rng.permutation(len(known))] if len(known) > 1 else known) + self._last[identity]
        chosen: list[int] = []
        if len(order) == 1:  # one bucket (label-agnostic batches): its images in a random order, pass after pass
            while len(chosen) < self.k:
                chosen.extend(rng.permutation(buckets[order[0]]).tolist())
            return chosen[: self.k]
        while len(chosen) < self.k:  # more than one pass only when the identity has < k images
            shuffled = [rng.permutation(buckets[e]).tolist() for e in order]
            turns = [
                [images[i : i + self.per_turn] for i in range(0, len(images), self.per_turn)] for images in shuffled
            ]
            for one_turn_per_expression in zip_longest(*turns):
                chosen.extend(i for turn in one_turn_per_expression if turn is not None for i in turn)
        return chosen[: self.k]


def forget_drawn_batches() -> None:
    """Draw every epoch afresh from here on (the process's drawn epochs are dropped)."""
    _DRAWN.clear()


def _as_list(values) -> list:
    """Plain Python values (tensors and arrays would otherwise hash as objects, not labels)."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _check_arguments(ids: list, emo: list[int], p: int, k: int, batches_per_epoch: int | None) -> None:
    if len(ids) != len(emo):
        raise ValueError(f"ids and emo must have one entry per image, got {len(ids)} and {len(emo)}")
    if p < 1 or k < 1:
        raise ValueError(f"p (identities per batch) and k (images per identity) must be >= 1, got p={p}, k={k}")
    n_identities = len(set(ids))
    if n_identities < p:
        raise ValueError(
            f"p={p} identities per batch but the data have only {n_identities}; use p <= {n_identities} "
            "(in a study: lower training.batch_identities)"
        )
    if any(e < UNKNOWN for e in emo):
        raise ValueError("expression codes must be >= -1 (-1 = unknown)")
    if batches_per_epoch is not None and batches_per_epoch < 1:
        raise ValueError(f"batches_per_epoch must be >= 1 or None, got {batches_per_epoch}")


def _images_by_identity_and_expression(ids: list, emo: list[int]) -> list[dict[int, list[int]]]:
    """Per identity (in order of first appearance), its image indices grouped by expression code."""
    position: dict = {}
    images: list[dict[int, list[int]]] = []
    for index, (identity, expression) in enumerate(zip(ids, emo)):
        if identity not in position:
            position[identity] = len(images)
            images.append({})
        images[position[identity]].setdefault(expression, []).append(index)
    return images


def _shuffled_rounds(n: int, rng: np.random.Generator) -> Iterator[int]:
    """0..n-1 in a fresh random order, round after round, forever."""
    while True:
        yield from rng.permutation(n).tolist()


def _distinct(stream: Iterator[int], count: int) -> list[int]:
    """The next ``count`` distinct items of ``stream`` (a repeat across a round boundary is skipped)."""
    chosen: list[int] = []
    while len(chosen) < count:
        item = next(stream)
        if item not in chosen:
            chosen.append(item)
    return chosen
