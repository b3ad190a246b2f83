"""PKBatchSampler: P identities x K images, expression diversity, determinism."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from emoverify.training.sampler import PKBatchSampler, forget_drawn_batches


def dataset(n_identities=10, expressions=(0, 1, 2, 3, 5), per_expression=3, unknown=2):
    """Every identity: ``per_expression`` images of each expression plus ``unknown`` unlabelled ones."""
    ids, emo = [], []
    for identity in range(n_identities):
        for expression in expressions:
            ids += [identity] * per_expression
            emo += [expression] * per_expression
        ids += [identity] * unknown
        emo += [-1] * unknown
    return ids, emo


def batches(sampler):
    return [list(b) for b in sampler]


def test_batches_hold_p_distinct_identities_with_k_images_each():
    ids, emo = dataset()
    sampler = PKBatchSampler(ids, emo, p=4, k=6, seed=0, batches_per_epoch=7)
    drawn = batches(sampler)
    assert len(drawn) == len(sampler) == 7
    for batch in drawn:
        assert len(batch) == 24
        assert all(0 <= i < len(ids) for i in batch)
        per_identity = Counter(ids[i] for i in batch)
        assert len(per_identity) == 4 and set(per_identity.values()) == {6}
        assert len(set(batch)) == 24  # every identity has >= k images, so no repeats


@pytest.mark.parametrize("k", [2, 4, 5, 7])
def test_each_identity_shows_as_many_known_expressions_as_k_allows(k):
    ids, emo = dataset(expressions=(0, 1, 2, 3, 5))
    for batch in PKBatchSampler(ids, emo, p=3, k=k, seed=1, batches_per_epoch=10):
        for identity in set(ids[i] for i in batch):
            shown = {emo[i] for i in batch if ids[i] == identity and emo[i] != -1}
            assert len(shown) == min(k, 5)


def test_uneven_identities_show_all_their_expressions():
    ids = [0] * 9 + [1, 1, 1] + [2] * 5
    emo = [4] * 7 + [2, 6] + [1, -1, 3] + [0, 0, 0, 0, -1]
    for batch in PKBatchSampler(ids, emo, p=3, k=4, seed=2, batches_per_epoch=20):
        shown = {identity: {emo[i] for i in batch if ids[i] == identity} - {-1} for identity in (0, 1, 2)}
        assert shown == {0: {2, 4, 6}, 1: {1, 3}, 2: {0}}


def test_identities_with_fewer_than_k_images_show_all_then_repeat():
    ids = [0, 1, 1, 1, 2, 2, 2, 2, 2]
    emo = [5, 0, 1, 2, 0, 1, 2, 3, 4]
    batch = next(iter(PKBatchSampler(ids, emo, p=3, k=4, seed=0)))
    per_identity = Counter(ids[i] for i in batch)
    assert per_identity == {0: 4, 1: 4, 2: 4}
    assert [i for i in batch if ids[i] == 0] == [0, 0, 0, 0]
    assert {i for i in batch if ids[i] == 1} == {1, 2, 3}


def test_deterministic_for_a_seed_and_changed_by_epoch_and_seed():
    ids, emo = dataset()
    first = batches(PKBatchSampler(ids, emo, p=4, k=4, seed=7))
    again = PKBatchSampler(ids, emo, p=4, k=4, seed=7)
    assert batches(again) == first
    assert batches(again) == first  # iterating twice in one epoch repeats the draw
    again.set_epoch(1)
    epoch1 = batches(again)
    assert epoch1 != first
    again.set_epoch(1)
    assert batches(again) == epoch1
    assert batches(PKBatchSampler(ids, emo, p=4, k=4, seed=8)) != first


def test_an_epoch_drawn_once_per_process_is_the_draw_each_sampler_would_make():
    """Samplers that differ in any argument (labels, P, K, seed, epoch length, pairs, epoch) get their own draw,
    and a caller changing a batch does not change what the next sampler yields."""
    ids, emo = dataset()
    other_emo = [-1 if e == 5 else e for e in emo]
    variants = [
        dict(ids=ids, emo=emo, p=4, k=4, seed=1),
        dict(ids=ids, emo=other_emo, p=4, k=4, seed=1),
        dict(ids=ids, emo=emo, p=3, k=4, seed=1),
        dict(ids=ids, emo=emo, p=4, k=3, seed=1),
        dict(ids=ids, emo=emo, p=4, k=4, seed=2),
        dict(ids=ids, emo=emo, p=4, k=4, seed=1, batches_per_epoch=5),
        dict(ids=ids, emo=emo, p=4, k=4, seed=1, pairs=True),
    ]
    fresh = []
    for options in variants:
        forget_drawn_batches()
        fresh.append([batches(PKBatchSampler(**options)) for _ in range(2)])
    forget_drawn_batches()
    shared = []
    for options in variants:
        sampler = PKBatchSampler(**options)
        next(iter(sampler)).clear()  # the batch as the sampler yields it, changed by its caller
        sampler.set_epoch(1)
        shared.append([batches(PKBatchSampler(**options)), batches(sampler)])
    for (fresh_epoch0, _), (shared_epoch0, shared_epoch1) in zip(fresh, shared):
        assert shared_epoch0 == fresh_epoch0
        assert shared_epoch1 != shared_epoch0
    assert len({repr(epochs[0]) for epochs in fresh}) == len(variants)


def test_identities_are_dealt_evenly_within_an_epoch():
    ids, emo = dataset(n_identities=12)
    drawn = batches(PKBatchSampler(ids, emo, p=4, k=2, seed=3, batches_per_epoch=3))
    dealt = Counter(ids[i] for batch in drawn for i in batch[::2])
    assert dealt == {identity: 1 for identity in range(12)}


def test_default_length_covers_the_images_about_once():
    ids, emo = dataset(n_identities=10)  # 170 images
    assert len(PKBatchSampler(ids, emo, p=4, k=4, seed=0)) == 11
    assert len(PKBatchSampler(ids, emo, p=10, k=17, seed=0)) == 1


def test_accepts_string_and_tensor_labels_and_feeds_a_dataloader():
    ids, emo = dataset(n_identities=5)
    names = [f"person{i}" for i in ids]
    by_name = batches(PKBatchSampler(names, emo, p=2, k=3, seed=4))
    by_tensor = batches(PKBatchSampler(torch.tensor(ids), torch.tensor(emo), p=2, k=3, seed=4))
    assert by_name == by_tensor
    data = TensorDataset(torch.arange(len(ids)), torch.tensor(ids))
    loader = DataLoader(data, batch_sampler=PKBatchSampler(ids, emo, p=2, k=3, seed=4))
    indices, identities = next(iter(loader))
    assert indices.tolist() == by_name[0] and len(set(identities.tolist())) == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"p": 6}, "only 5"),
        ({"k": 0}, ">= 1"),
        ({"batches_per_epoch": 0}, "batches_per_epoch"),
        ({"emo": [0, 1]}, "one entry per image"),
        ({"emo": [-3] * 85}, ">= -1"),
    ],
)
def test_bad_arguments_are_explained(arguments, message):
    ids, emo = dataset(n_identities=5)
    options = {"ids": ids, "emo": emo, "p": 2, "k": 2, "seed": 0, **arguments}
    with pytest.raises(ValueError, match=message):
        PKBatchSampler(**options)


def test_pairs_mode_takes_two_images_of_an_expression_per_turn():
    ids, emo = dataset(n_identities=6, expressions=(0, 1, 2, 3, 5), per_expression=3, unknown=0)
    for batch in batches(PKBatchSampler(ids, emo, p=3, k=6, seed=2, batches_per_epoch=5, pairs=True)):
        for identity in set(ids[i] for i in batch):
            shown = Counter(emo[i] for i in batch if ids[i] == identity)
            assert sorted(shown.values()) == [2, 2, 2]  # three same-expression pairs: what PDM needs


def test_all_unknown_expressions_give_a_uniform_label_agnostic_draw():
    ids, emo = dataset(n_identities=4, per_expression=3, unknown=0)
    unknown = [-1] * len(ids)
    shown = Counter()
    for epoch in range(300):
        sampler = PKBatchSampler(ids, unknown, p=4, k=5, seed=0, batches_per_epoch=1)
        sampler.set_epoch(epoch)
        shown.update(emo[i] for batch in sampler for i in batch if ids[i] == 0)
    # 5 expressions x 3 images, 5 drawn per batch: each expression is drawn 1 time per batch on average
    assert all(abs(count / 300 - 1.0) < 0.15 for count in shown.values())


class UncachedSampler(PKBatchSampler):
    """The draw as first written: each identity's buckets looked up and converted on every batch."""

    def _images_of(self, identity, rng):
        from itertools import zip_longest

        buckets = self._images[identity]
        known = [e for e in buckets if e != -1]
        order = [known[i] for i in rng.permutation(len(known))] + ([-1] if -1 in buckets else [])
        chosen = []
        while len(chosen) < self.k:
            shuffled = [rng.permutation(buckets[e]).tolist() for e in order]
            turns = [
                [images[i : i + self.per_turn] for i in range(0, len(images), self.per_turn)] for images in shuffled
            ]
            for one_turn_per_expression in zip_longest(*turns):
                chosen.extend(i for turn in one_turn_per_expression if turn is not None for i in turn)
        return chosen[: self.k]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("pairs", [False, True])
def test_cached_draws_equal_the_uncached_draws(seed, pairs):
    """Random people (1 to 9 images, some fewer than k), expressions known, unknown or absent (label-agnostic
    batches): every batch of several epochs is the one the uncached sampler draws."""
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 10, (30,), generator=generator).tolist()
    ids = [person for person, size in enumerate(sizes) for _ in range(size)]
    emo = torch.randint(-1, 4, (len(ids),), generator=generator).tolist()
    for labels in (emo, [-1] * len(ids)):
        made = [cls(ids, labels, p=6, k=4, seed=seed, pairs=pairs) for cls in (PKBatchSampler, UncachedSampler)]
        for epoch in range(3):
            for sampler in made:
                sampler.set_epoch(epoch)
            assert batches(made[0]) == batches(made[1])
