"""Every loss against a plain loop written straight from the paper's formulas (emoverify.losses.loops), plus
gradients, edges and properties."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from emoverify import losses, registry
from emoverify.losses.loops import EXPRESSION_LOSSES, LOSSES

N_EXPR = 8
DIM = 9
F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: threads only add overhead (and stall badly on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- the losses under test


def trainable_parts(dim, n_identities, seed=0):
    """ArcFace head, composition net and classifier, seeded, float64."""
    torch.manual_seed(seed)
    return {
        "head": losses.ArcFaceHead(dim, n_identities, scale=8.0, margin=0.5).double(),
        "net": losses.CompositionNet(dim, N_EXPR, hidden=7).double(),
        "classifier": losses.ExpressionClassifier(dim, N_EXPR).double(),
        "offsets": losses.basis_offsets(N_EXPR, dim, origin=5, scale=0.7).double(),
    }


def random_batch(seed, n=14, n_identities=4, n_expressions=4, unknown=0.2, dim=DIM):
    """Embeddings with repeated identities and expressions and some unknown expressions."""
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, dim, generator=g, dtype=F64)
    ids = torch.randint(n_identities, (n,), generator=g)
    codes = torch.tensor([5, 0, 3, 7, 1, 6])[:n_expressions]  # the origin (neutral, 5) among them
    emo = codes[torch.randint(n_expressions, (n,), generator=g)]
    emo[torch.rand(n, generator=g) < unknown] = -1
    return emb, ids, emo


def value_and_grad(fn, emb, *args):
    emb = emb.detach().clone().requires_grad_(True)
    value = fn(emb, *args)
    (grad,) = torch.autograd.grad(value, emb)
    return value.detach(), grad


# --------------------------------------------------------------------------- loss == loop


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", LOSSES)
def test_vectorised_loss_matches_the_loop_over_the_formula(name, seed):
    emb, ids, emo = random_batch(seed)
    parts = trainable_parts(DIM, 4, seed)
    vectorised, loop = LOSSES[name]
    value, grad = value_and_grad(vectorised, emb, ids, emo, parts)
    ref_value, ref_grad = value_and_grad(loop, emb, ids.tolist(), emo.tolist(), parts)
    assert ref_value != 0  # the batch has valid tuples: the comparison is not 0 == 0
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("name", ["ce", "mtl", "arcface_head"])
def test_trainable_parts_get_the_loop_gradients(name):
    emb, ids, emo = random_batch(5)
    parts = trainable_parts(DIM, 4, 5)
    module = {"ce": parts["net"], "mtl": parts["classifier"], "arcface_head": parts["head"]}[name]
    vectorised, loop = LOSSES[name]
    grads = torch.autograd.grad(vectorised(emb, ids, emo, parts), list(module.parameters()))
    ref_grads = torch.autograd.grad(loop(emb, ids.tolist(), emo.tolist(), parts), list(module.parameters()))
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("name", LOSSES)
def test_gradcheck(name):
    emb, ids, emo = random_batch(11, n=10, n_identities=3, n_expressions=3, dim=8)
    parts = trainable_parts(8, 3, 11)
    vectorised, _ = LOSSES[name]
    assert torch.autograd.gradcheck(
        lambda e: vectorised(e, ids, emo, parts), (emb.requires_grad_(True),), eps=1e-6, atol=1e-6
    )


# --------------------------------------------------------------------------- edge cases

IDENTITY_PAIR_LOSSES = ("triplet_all", "triplet_batch_hard", "triplet_semi_hard", "arcface_geodesic")
EDGE_BATCHES = {
    # name: (ids, emo, the losses that have nothing to average and must give 0)
    "empty": ([], [], tuple(LOSSES)),
    "single_sample": ([0], [1], IDENTITY_PAIR_LOSSES + ("pdm", "pdp", "fbv", "ce")),
    "all_identities_distinct": ([0, 1, 2, 3], [1, 2, 1, 2], IDENTITY_PAIR_LOSSES + ("pdm", "pdp", "fbv", "ce")),
    "one_identity": ([2, 2, 2, 2, 2], [0, 1, 1, 3, 5], IDENTITY_PAIR_LOSSES + ("pdp",)),
    "all_expressions_unknown": ([0, 0, 1, 1, 2, 2], [-1] * 6, EXPRESSION_LOSSES),
    "single_expression": ([0, 0, 1, 1, 1, 2], [4] * 6, ("pdp", "fbv", "ce")),
}


@pytest.mark.parametrize("batch", EDGE_BATCHES)
@pytest.mark.parametrize("name", LOSSES)
def test_edge_batches_give_finite_values_and_zero_where_nothing_is_valid(name, batch):
    ids, emo, zero_losses = EDGE_BATCHES[batch]
    if name == "arcface_head" and batch != "empty":
        zero_losses = ()  # every sample with a class is a valid term of the softmax head
    emb = torch.randn(len(ids), DIM, generator=torch.Generator().manual_seed(3), dtype=F64).requires_grad_(True)
    parts = trainable_parts(DIM, 4)
    value = LOSSES[name][0](emb, torch.tensor(ids, dtype=torch.long), torch.tensor(emo, dtype=torch.long), parts)
    value.backward()
    assert value.dim() == 0 and torch.isfinite(value)
    assert emb.grad is not None and torch.isfinite(emb.grad).all()
    if name in zero_losses:
        assert value.item() == 0.0
        assert (emb.grad == 0).all()
    else:
        assert value.item() > 0.0


# --------------------------------------------------------------------------- properties

labels = st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 7)), min_size=2, max_size=14)


def labelled_batch(pairs):
    ids = torch.tensor([i for i, _ in pairs], dtype=torch.long)
    emo = torch.tensor([e for _, e in pairs], dtype=torch.long)
    return ids, emo


@settings(max_examples=30, deadline=None)
@given(pairs=labels, seed=st.integers(0, 2**16))
def test_pdm_is_zero_when_same_identity_same_expression_embeddings_coincide(pairs, seed):
    ids, emo = labelled_batch(pairs)
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(4, N_EXPR + 1, DIM, generator=g, dtype=F64)  # one point per (identity, expression)
    emb = points[ids, emo] + (emo == -1)[:, None] * torch.randn(len(ids), DIM, generator=g, dtype=F64)
    assert losses.pdm(emb, ids, emo).item() == pytest.approx(0.0, abs=1e-10)


@settings(max_examples=30, deadline=None)
@given(pairs=labels, seed=st.integers(0, 2**16), origin=st.sampled_from([None, 0, 5]))
def test_fbv_is_zero_at_identity_centre_plus_expression_offset(pairs, seed, origin):
    ids, emo = labelled_batch(pairs)
    g = torch.Generator().manual_seed(seed)
    offsets = losses.basis_offsets(N_EXPR, DIM, origin=origin, scale=1.5).double()
    centres = torch.randn(4, DIM, generator=g, dtype=F64)
    noise = torch.randn(len(ids), DIM, generator=g, dtype=F64)
    emb = centres[ids] + offsets[emo.clamp_min(0)] + (emo == -1)[:, None] * noise
    assert losses.fbv(emb, ids, emo, offsets).item() == pytest.approx(0.0, abs=1e-10)


def random_rotation(dim, g):
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=F64))
    return q * torch.sign(torch.diagonal(r))


@settings(max_examples=30, deadline=None)
@given(pairs=labels, seed=st.integers(0, 2**16))
def test_pdp_is_zero_when_every_identity_has_the_same_pairwise_distances(pairs, seed):
    ids, emo = labelled_batch(pairs)
    g = torch.Generator().manual_seed(seed)
    template = torch.randn(N_EXPR, DIM, generator=g, dtype=F64)  # one layout of the expressions, moved rigidly
    shifts = torch.randn(4, DIM, generator=g, dtype=F64)
    moved = torch.stack([template @ random_rotation(DIM, g) + shift for shift in shifts])
    noise = torch.randn(len(ids), DIM, generator=g, dtype=F64)
    emb = moved[ids, emo.clamp_min(0)] + (emo == -1)[:, None] * noise
    assert losses.pdp(emb, ids, emo).item() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(pairs=labels, seed=st.integers(0, 2**16))
def test_every_loss_is_invariant_to_permuting_the_batch(pairs, seed):
    ids, emo = labelled_batch(pairs)
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(len(ids), DIM, generator=g, dtype=F64)
    order = torch.randperm(len(ids), generator=g)
    parts = trainable_parts(DIM, 4)
    for name, (vectorised, _) in LOSSES.items():
        original = vectorised(emb, ids, emo, parts)
        permuted = vectorised(emb[order], ids[order], emo[order], parts)
        torch.testing.assert_close(permuted, original, rtol=1e-10, atol=1e-12, msg=name)


def test_permuting_identity_codes_changes_nothing_for_the_batch_losses():
    emb, ids, emo = random_batch(8)
    relabelled = torch.tensor([3, 0, 2, 1])[ids] + 10
    parts = trainable_parts(DIM, 4)
    for name in ("triplet_all", "triplet_semi_hard", "arcface_geodesic", "pdm", "pdp", "fbv", "ce"):
        vectorised = LOSSES[name][0]
        torch.testing.assert_close(vectorised(emb, relabelled, emo, parts), vectorised(emb, ids, emo, parts))


# --------------------------------------------------------------------------- pieces and bad input


def test_basis_offsets_put_the_origin_at_zero_and_give_each_other_expression_its_own_axis():
    offsets = losses.basis_offsets(8, 10, origin=5, scale=2.0)
    assert offsets.shape == (8, 10)
    assert (offsets[5] == 0).all()
    others = torch.cat([offsets[:5], offsets[6:]])
    torch.testing.assert_close(others @ others.T, 4.0 * torch.eye(7, dtype=others.dtype))


def test_basis_offsets_without_origin_move_every_expression():
    offsets = losses.basis_offsets(8, 8, origin=None)
    torch.testing.assert_close(offsets, torch.eye(8, dtype=offsets.dtype))


def test_basis_offsets_explain_a_too_small_embedding():
    with pytest.raises(ValueError, match="at least 7"):
        losses.basis_offsets(8, 6, origin=5)
    with pytest.raises(ValueError, match="at least 8"):
        losses.basis_offsets(8, 7, origin=None)
    with pytest.raises(ValueError, match="origin"):
        losses.basis_offsets(8, 8, origin=8)


def test_composition_net_has_the_papers_layers():
    net = losses.CompositionNet(128, 8)
    shapes = [tuple(m.weight.shape) for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert shapes == [(100, 128 + 16), (100, 100), (128, 100)]
    emb, emo_from, emo_to = torch.randn(3, 128), torch.tensor([0, 5, 7]), torch.tensor([1, 1, 2])
    one_hot = torch.nn.functional.one_hot
    expected = net.layers(torch.cat([emb, one_hot(emo_from, 8).float(), one_hot(emo_to, 8).float()], dim=1))
    torch.testing.assert_close(net(emb, emo_from, emo_to), expected)


def test_arcface_head_margin_lowers_the_true_class_logit_only():
    head = losses.ArcFaceHead(DIM, 4, scale=10.0, margin=0.5).double()
    emb, ids, _ = random_batch(4)
    with_margin = head.logits(emb, ids)
    head.margin = 0.0
    without = head.logits(emb, ids)
    own = torch.nn.functional.one_hot(ids, 4).bool()
    assert (with_margin[own] < without[own]).all()
    torch.testing.assert_close(with_margin[~own], without[~own])


ZEROS = torch.zeros(4, dtype=torch.long)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e: losses.pdm(e[0], ZEROS, ZEROS), "batch x dim"),
        (lambda e: losses.pdm(e, ZEROS[:3], ZEROS), "one entry per"),
        (lambda e: losses.pdm(e, torch.zeros(4), ZEROS), "integer"),
        (lambda e: losses.pdp(e, ZEROS, torch.full((4,), -2)), ">= -1"),
        (lambda e: losses.mtl(e, torch.full((4,), 8), losses.ExpressionClassifier(DIM, 8)), "outside"),
        (lambda e: losses.ce(e, ZEROS, torch.full((4,), 8), losses.CompositionNet(DIM, 8)), "outside"),
        (lambda e: losses.fbv(e, ZEROS, ZEROS, torch.ones(8, 3)), "offsets"),
        (lambda e: losses.ArcFaceHead(DIM, 3, scale=8.0, margin=0.5)(e, torch.tensor([0, 1, 2, 3])), "0..2"),
        (lambda e: losses.triplet(e, ZEROS, mining="hardest"), "semi_hard"),
    ],
)
def test_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.randn(4, DIM))


def test_losses_follow_the_embedding_dtype_in_float32():
    emb, ids, emo = random_batch(9)
    emb32 = emb.float().requires_grad_(True)
    offsets = losses.basis_offsets(N_EXPR, DIM)
    value = losses.fbv(emb32, ids, emo, offsets) + losses.pdp(emb32, ids, emo) + losses.triplet(emb32, ids)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(emb32.grad).all()
    torch.testing.assert_close(
        value.double(),
        losses.fbv(emb, ids, emo, offsets.double()) + losses.pdp(emb, ids, emo) + losses.triplet(emb, ids),
        rtol=1e-4,
        atol=1e-5,
    )


# --------------------------------------------------------------------------- pairs each loss uses


def loop_pairs_used(name, ids, emo):
    """The pairs (or quadruples, or samples) of each expression loss, counted one by one from its formula."""
    n = len(ids)
    known = [e != -1 for e in emo]
    if name == "mtl":
        return sum(known)
    same_pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if ids[i] == ids[j] and known[i] and known[j]]
    if name == "pdm":
        return sum(emo[i] == emo[j] for i, j in same_pairs)
    cross = [(i, j) for i, j in same_pairs if emo[i] != emo[j]]
    if name in ("fbv", "ce"):
        return 2 * len(cross)  # ordered pairs
    quadruples = 0
    for (i, j), (k, m) in itertools.combinations(cross, 2):
        quadruples += ids[i] != ids[k] and {emo[i], emo[j]} == {emo[k], emo[m]}
    return quadruples


def test_every_expression_loss_of_the_registry_has_its_loop_reference():
    assert set(EXPRESSION_LOSSES) == set(registry.expression_losses())
    assert {"triplet_all", "arcface_geodesic", "arcface_head"} <= set(LOSSES)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", EXPRESSION_LOSSES)
def test_pairs_used_matches_a_plain_count(name, seed):
    _, ids, emo = random_batch(seed, n=16)
    assert losses.pairs_used(name, ids, emo) == loop_pairs_used(name, ids.tolist(), emo.tolist())


def test_a_batch_counted_again_with_other_labels_is_counted_afresh():
    """Counts are kept per batch: the same identities with other expressions (another label source), or the
    same expressions on other identities, are not answered from an earlier batch's table."""
    _, ids, emo = random_batch(3, n=32, n_identities=8, n_expressions=6, unknown=0.3)
    relabelled = emo.roll(5)
    regrouped = ids.roll(3)
    for name in EXPRESSION_LOSSES:
        for batch_ids, batch_emo in ((ids, emo), (ids, relabelled), (regrouped, emo), (ids, emo)):
            assert losses.pairs_used(name, batch_ids, batch_emo) == loop_pairs_used(
                name, batch_ids.tolist(), batch_emo.tolist()
            )


def test_a_loss_without_pairs_reports_zero():
    ids, emo = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1])  # one image per identity
    assert {name: losses.pairs_used(name, ids, emo) for name in ("pdm", "pdp", "fbv", "ce")} == dict.fromkeys(
        ("pdm", "pdp", "fbv", "ce"), 0
    )


def matrix_pairs_used(name, ids, emo):
    """The counts as the losses first made them, from B x B masks of known same-identity pairs."""
    known = emo != -1
    candidates = (ids[:, None] == ids[None, :]) & known[:, None] & known[None, :]
    same, cross = candidates & (emo[:, None] == emo[None, :]), candidates & (emo[:, None] != emo[None, :])
    if name == "mtl":
        return int(known.sum())
    if name == "pdm":
        return int(torch.triu(same, diagonal=1).sum())
    if name in ("fbv", "ce"):
        return int(cross.sum())
    first, second = torch.triu(cross, diagonal=1).nonzero(as_tuple=True)
    low, high = torch.minimum(emo[first], emo[second]), torch.maximum(emo[first], emo[second])
    quadruples = 0
    for expression_pair in torch.unique(low * 1000 + high):
        per_identity = torch.unique(ids[first][low * 1000 + high == expression_pair], return_counts=True)[1]
        quadruples += int((per_identity.sum() ** 2 - per_identity.pow(2).sum()) // 2)
    return quadruples


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("name", EXPRESSION_LOSSES)
def test_pairs_used_match_the_pair_matrices_on_batches_and_training_sets(name, seed):
    """Batch-sized and training-set-sized label vectors (arbitrary integer identities, some negative), given
    as tensors, arrays or lists."""
    n = 32 if seed % 2 else 600
    _, ids, emo = random_batch(seed, n=n, n_identities=8 if n == 32 else 150, n_expressions=6, unknown=0.3)
    ids = ids * 7 - 20
    expected = matrix_pairs_used(name, ids, emo)
    for form in (lambda t: t, lambda t: t.numpy(), lambda t: t.tolist()):
        assert losses.pairs_used(name, form(ids), form(emo)) == expected
