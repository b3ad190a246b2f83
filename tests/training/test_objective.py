"""The combined objective: weights, reported terms, trainable parts and configuration errors."""

from __future__ import annotations

import pytest
import torch

from emoverify import losses, registry
from emoverify.losses import LossSettings
from emoverify.training.objective import CombinedObjective

DIM = 16


def batch(seed=0, n=24, n_identities=4):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, DIM, generator=g, dtype=torch.float64)
    ids = torch.randint(n_identities, (n,), generator=g)
    emo = torch.randint(8, (n,), generator=g)
    emo[:3] = -1
    return emb, ids, emo


def objective(primary="triplet", aux=None, **options):
    torch.manual_seed(0)
    settings = LossSettings(**{"embedding_dim": DIM, "n_identities": 4, **options})
    return CombinedObjective(primary, aux if aux is not None else {}, settings).double()


def test_total_is_primary_plus_weighted_auxiliary_terms_each_reported_unweighted():
    weights = {"pdm": 0.5, "pdp": 0.1, "fbv": 0.2, "ce": 0.3, "mtl": 0.7}
    obj = objective("triplet", weights, margin=0.3, mining="semi_hard", fbv_scale=2.0)
    emb, ids, emo = batch()
    total, terms = obj(emb, ids, emo)
    expected = {
        "triplet": losses.triplet(emb, ids, margin=0.3, mining="semi_hard"),
        "pdm": losses.pdm(emb, ids, emo),
        "pdp": losses.pdp(emb, ids, emo),
        "fbv": losses.fbv(emb, ids, emo, losses.basis_offsets(8, DIM, origin=5, scale=2.0)),
        "ce": losses.ce(emb, ids, emo, obj.terms["ce"].net),
        "mtl": losses.mtl(emb, emo, obj.terms["mtl"].classifier),
    }
    assert set(terms) == set(expected) | {"total"}
    for name, value in expected.items():
        assert isinstance(terms[name], float)
        assert terms[name] == pytest.approx(value.item(), rel=1e-12)
        assert value.item() > 0
    weighted = expected["triplet"] + sum(weights[name] * expected[name] for name in weights)
    assert total.item() == pytest.approx(weighted.item(), rel=1e-12)
    assert terms["total"] == pytest.approx(total.item(), rel=1e-12)


def test_the_order_aux_is_spelt_in_changes_no_bit_of_the_total():
    emb, ids, emo = batch()
    spelt = [{"pdp": 0.1, "fbv": 0.2, "mtl": 0.3}, {"mtl": 0.3, "fbv": 0.2, "pdp": 0.1}]
    totals = [objective("triplet", weights)(emb, ids, emo)[0] for weights in spelt]
    assert totals[0].item() == totals[1].item()
    assert list(objective("triplet", spelt[0]).weights) == ["fbv", "mtl", "pdp"]


@pytest.mark.parametrize("primary", ["triplet", "arcface", "arcface_geodesic"])
def test_each_primary_loss_alone(primary):
    obj = objective(primary, arcface_margin=0.3, arcface_scale=12.0)
    emb, ids, _ = batch(1)
    total, terms = obj(emb, ids)
    expected = {
        "triplet": lambda: losses.triplet(emb, ids, margin=0.2),
        "arcface": lambda: obj.primary_loss.head(emb, ids),
        "arcface_geodesic": lambda: losses.arcface_geodesic(emb, ids, margin=0.3),
    }[primary]()
    assert terms == pytest.approx({primary: expected.item(), "total": expected.item()}, rel=1e-12)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    assert not obj.needs_expressions and obj.expression_terms == ()
    if primary == "arcface":
        assert (obj.primary_loss.head.scale, obj.primary_loss.head.margin) == (12.0, 0.3)


def test_trainable_parts_are_submodules_and_receive_gradients():
    obj = objective("arcface", {"ce": 1.0, "mtl": 1.0, "pdp": 1.0})
    owners = ("primary_loss.head.", "terms.ce.net.", "terms.mtl.classifier.")
    names = [name for name, _ in obj.named_parameters()]
    assert {owner for owner in owners for name in names if name.startswith(owner)} == set(owners)
    assert all(name.startswith(owners) for name in names)
    emb, ids, emo = batch(2)
    emb.requires_grad_(True)
    total, _ = obj(emb, ids, emo)
    total.backward()
    assert emb.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.parameters())


def test_a_triplet_objective_without_trainable_parts_has_no_parameters():
    assert list(objective("triplet", {"pdm": 1.0, "pdp": 1.0, "fbv": 1.0}).parameters()) == []


def test_fbv_offsets_follow_the_origin_and_the_module_device_and_dtype():
    obj = objective("triplet", {"fbv": 1.0}, origin_expression=None, fbv_scale=3.0)
    assert obj.terms["fbv"].offsets.dtype == torch.float64
    torch.testing.assert_close(obj.terms["fbv"].offsets[:, :8], 3.0 * torch.eye(8, dtype=torch.float64))
    assert "terms.fbv.offsets" in obj.state_dict()


def test_needs_expressions_and_a_clear_error_when_they_are_missing():
    obj = objective("triplet", {"pdp": 0.1, "mtl": 0.2})
    assert obj.needs_expressions and obj.expression_terms == ("mtl", "pdp")
    emb, ids, _ = batch()
    with pytest.raises(ValueError, match="mtl, pdp need expression labels"):
        obj(emb, ids)


@pytest.mark.parametrize(
    "primary, aux, options, message",
    [
        ("softmax", {}, {}, "allowed: triplet, arcface, arcface_geodesic"),
        ("triplet", {"pdq": 0.1}, {}, "'pdq'.*allowed: " + ", ".join(registry.expression_losses())),
        ("triplet", {"pdp": -1.0}, {}, "finite number >= 0"),
        ("triplet", {"pdp": float("nan")}, {}, "finite number >= 0"),
        ("triplet", {"fbv": 1.0}, {"embedding_dim": 4}, "at least 7"),
    ],
)
def test_configuration_errors_name_the_allowed_values(primary, aux, options, message):
    with pytest.raises(ValueError, match=message):
        objective(primary, aux, **options)


def test_an_unknown_mining_is_named_by_the_triplet_loss_that_reads_it():
    """The settings trust the checked config; a mining mode only the library was given stops at the first batch."""
    obj = objective("triplet", {}, mining="hardest")
    emb, ids, _ = batch()
    with pytest.raises(ValueError, match="allowed: all, batch_hard, semi_hard"):
        obj(emb, ids)


def test_arcface_rejects_identities_outside_the_training_classes():
    obj = objective("arcface", n_identities=3)
    emb, ids, _ = batch(n_identities=4)
    with pytest.raises(ValueError, match="0..2"):
        obj(emb, ids)


@pytest.fixture
def one_thread():
    """Tiny tensors: threads only add overhead (and stall badly on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_optimising_the_objective_lowers_every_term(one_thread):
    emb, ids, emo = batch(3)
    emb = torch.nn.Parameter(emb * 0.3)
    obj = objective("triplet", {"pdm": 1.0, "pdp": 1.0, "fbv": 1.0, "ce": 1.0, "mtl": 1.0}, origin_expression=None)
    optimiser = torch.optim.Adam([emb, *obj.parameters()], lr=0.02)
    _, first = obj(emb, ids, emo)
    for _ in range(100):
        optimiser.zero_grad()
        total, terms = obj(emb, ids, emo)
        total.backward()
        optimiser.step()
    for name, value in terms.items():
        assert value < 0.5 * first[name], (name, first[name], value)
