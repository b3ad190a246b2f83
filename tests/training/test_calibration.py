"""Relative expression weights: gradient norms at the embedding against a plain computation, the weights they
give, that calibration changes nothing else a run draws, the record, the zero-gradient reasons, and that
absolute weights stay the default."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from demo_runs import TRAINING, descriptor_sets, make_demo_sets, run

from emoverify import study
from emoverify.losses import LossSettings, loops
from emoverify.model import checkpoint
from emoverify.report import runs_table
from emoverify.schema import load_schema
from emoverify.training import calibration, loop
from emoverify.training.fold import prepare_fold
from emoverify.training.objective import CombinedObjective
from emoverify.training.settings import TrainingSettings

DIM = 8
HEAD = {**TRAINING, "backbone": "head", "features": "dlib", "head_hidden": 32}
RELATIVE = {"expression_weights": "relative", "calibration_batches": 3}


def random_batch(seed=0, n=18, n_identities=4):
    generator = torch.Generator().manual_seed(seed)
    emb = torch.nn.functional.normalize(torch.randn(n, DIM, generator=generator, dtype=torch.float64), dim=1)
    ids = torch.arange(n) % n_identities
    emo = torch.randint(0, 4, (n,), generator=generator)
    emo[:2] = -1
    return emb, ids, emo


def objective(primary, aux):
    torch.manual_seed(0)
    settings = LossSettings(embedding_dim=DIM, n_identities=4, margin=0.3, arcface_scale=30.0, arcface_margin=0.5)
    return CombinedObjective(primary, aux, settings).double()


def plain_norm(loss_of, emb) -> float:
    """The gradient of one term alone at ``emb``, by backward on a fresh leaf, and its norm summed by hand."""
    leaf = emb.clone().requires_grad_(True)
    loss_of(leaf).backward()
    return math.sqrt(sum(value * value for value in leaf.grad.flatten().tolist()))


@pytest.mark.parametrize("primary", ["triplet", "arcface"])
def test_gradient_norms_match_each_term_differentiated_alone_by_its_plain_loop(primary):
    emb, ids, emo = random_batch()
    combined = objective(primary, {"pdm": 0.1, "pdp": 0.1, "mtl": 0.1})
    measured = calibration.gradient_norms(combined, emb, ids, emo)
    id_list, emo_list = ids.tolist(), emo.tolist()
    if primary == "triplet":
        primary_loop = lambda x: loops.loop_triplet_all(x, id_list, 0.3)  # noqa: E731
    else:
        weight = combined.primary_loss.head.weight.detach()
        primary_loop = lambda x: loops.loop_arcface_head(x, id_list, weight, 30.0, 0.5)  # noqa: E731
    classifier = combined.terms["mtl"].classifier
    expected = {
        primary: plain_norm(primary_loop, emb),
        "pdm": plain_norm(lambda x: loops.loop_pdm(x, id_list, emo_list), emb),
        "pdp": plain_norm(lambda x: loops.loop_pdp(x, id_list, emo_list), emb),
        "mtl": plain_norm(lambda x: loops.loop_mtl(x, emo_list, classifier), emb),
    }
    assert list(measured) == [primary, "mtl", "pdm", "pdp"]
    for name, value in expected.items():
        assert value > 0 and measured[name] == pytest.approx(value, rel=1e-9), name


def test_weights_are_relative_times_the_primary_over_the_term_averaged_over_batches():
    per_batch = [{"triplet": 1.0, "pdm": 0.5, "mtl": 2.0}, {"triplet": 3.0, "pdm": 0.0, "mtl": 6.0}]
    result = calibration.calibrated_weights("triplet", {"mtl": 0.5, "pdm": 2.0}, per_batch)
    assert result.gradient_norms == {"triplet": 2.0, "pdm": 0.25, "mtl": 4.0}
    assert result.weights == {"mtl": pytest.approx(0.5 * 2.0 / 4.0), "pdm": pytest.approx(2.0 * 2.0 / 0.25)}
    assert result.reasons == {} and result.batches == 2


@pytest.mark.parametrize("primary", ["triplet", "arcface"])
def test_with_relative_weight_one_the_weighted_term_pulls_as_hard_as_the_primary(primary):
    emb, ids, emo = random_batch(seed=2)
    combined = objective(primary, {"pdm": 1.0, "pdp": 1.0})
    result = calibration.calibrated_weights(
        primary, combined.weights, [calibration.gradient_norms(combined, emb, ids, emo)]
    )
    combined.set_weights(result.weights)
    primary_norm = plain_norm(lambda x: combined.primary_loss(x, ids), emb)
    for name in ("pdm", "pdp"):
        weighted = plain_norm(lambda x, name=name: combined.weights[name] * combined.terms[name](x, ids, emo), emb)
        assert weighted == pytest.approx(primary_norm, rel=1e-9), name


def test_a_term_with_nothing_to_act_on_keeps_its_weight_and_says_why():
    emb, ids, _ = random_batch()
    distinct = torch.arange(len(ids)) // 4  # within a person every expression differs: no PDM pair
    combined = objective("triplet", {"pdm": 0.3, "pdp": 0.2})
    norms = calibration.gradient_norms(combined, emb, ids, distinct)
    assert norms["pdm"] == 0.0 and norms["pdp"] > 0
    result = calibration.calibrated_weights("triplet", combined.weights, [norms, norms])
    assert result.weights["pdm"] == 0.3 and result.weights["pdp"] != 0.2
    assert set(result.reasons) == {"pdm"} and "0 on all 2 calibration batches" in result.reasons["pdm"]
    assert "relative weight is used as absolute" in result.record()["weight_reasons"]
    unpulled = calibration.calibrated_weights("triplet", {"pdp": 0.2}, [{"triplet": 0.0, "pdp": 1.0}])
    assert unpulled.weights == {"pdp": 0.2} and "primary loss triplet's gradient" in unpulled.reasons["pdp"]


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


@pytest.fixture(scope="module")
def head_sets():
    return descriptor_sets()


def first_batches_weighted_norms(setup, train, settings, calibrated):
    """Per calibration batch of a fresh set-up, the primary's and each weighted term's gradient norm."""
    setup.sampler.set_epoch(1)
    batches = list(setup.sampler)[: calibrated.batches]
    norms = []
    for batch in batches:
        ids, emo, sessions, embedding = loop.batch_embedding(setup, train, settings, batch, setup.generator, CPU)
        norms.append(calibration.gradient_norms(setup.objective, embedding, ids, emo, sessions))
    return norms


CPU = torch.device("cpu")


@pytest.mark.parametrize("backbone", ["compact", "head"])
@pytest.mark.parametrize("primary", ["triplet", "arcface"])
def test_a_relative_run_trains_exactly_as_an_absolute_run_with_the_weights_it_measured(
    demo_sets, head_sets, backbone, primary
):
    """Calibration draws nothing the training then draws (batches, flips, shifts, BatchNorm's running
    figures, torch's random state): the relative run equals, to the bit, the absolute run given its weights;
    and on the calibration batches the weighted terms pull, on average, as hard as the primary."""
    sets, recipe = (demo_sets, TRAINING) if backbone == "compact" else (head_sets, HEAD)
    method = {"primary": primary, "geometry": "spherical", "aux": {"pdm": 1.0, "mtl": 1.0}}
    relative = run(sets, method=method, epochs=2, seed=4, training={**recipe, **RELATIVE})
    calibrated = relative.weight_calibration
    assert calibrated.batches == 3 and calibrated.reasons == {}
    assert calibrated.relative_weights == {"mtl": 1.0, "pdm": 1.0}
    absolute = run(sets, method={**method, "aux": calibrated.weights}, epochs=2, seed=4, training=recipe)
    assert absolute.weight_calibration is None
    assert relative.history.drop(columns="seconds").equals(absolute.history.drop(columns="seconds"))
    settings = TrainingSettings.from_recipe(recipe)
    setup = loop.set_up_training(prepare_fold(sets["train"]), method=method, settings=settings, seed=4, device=CPU)
    measured = first_batches_weighted_norms(setup, sets["train"], settings, calibrated)
    mean = {name: np.mean([norms[name] for norms in measured]) for name in measured[0]}
    assert mean == pytest.approx(calibrated.gradient_norms, rel=1e-5)  # the same batches, augmented alike
    for name in ("pdm", "mtl"):
        assert calibrated.weights[name] * mean[name] == pytest.approx(mean[primary], rel=1e-5)


def test_absolute_weights_stay_the_default_and_calibrate_nothing(demo_sets):
    """Committed studies trained with absolute weights: neither the schema nor the library may change that."""
    schema = load_schema()["properties"]["training"]["properties"]
    assert schema["expression_weights"]["default"] == "absolute"
    assert TrainingSettings.from_recipe(TRAINING).expression_weights == "absolute"
    method = {"primary": "triplet", "geometry": "spherical", "aux": {"pdm": 0.1}}
    result = run(demo_sets, method=method, epochs=1, seed=1)
    assert result.weight_calibration is None
    setup = loop.set_up_training(prepare_fold(demo_sets["train"]), method=method, settings=SETTINGS, seed=1, device=CPU)
    assert setup.objective.weights == {"pdm": 0.1}


SETTINGS = TrainingSettings.from_recipe(TRAINING)


def test_the_record_reaches_the_runs_table_as_facts_not_metrics(head_sets, tmp_path):
    no_pdm_pair = replace(
        head_sets["train"], expressions=np.where(np.arange(64) % 8 == 7, -1, head_sets["train"].expressions)
    )
    method = {"primary": "triplet", "geometry": "spherical", "aux": {"pdm": 0.5, "pdp": 0.5}}
    result = run(head_sets, method=method, epochs=1, training={**HEAD, **RELATIVE}, train_set=no_pdm_pair)
    path = tmp_path / "model.pt"
    checkpoint.save_checkpoint(path, result, method=method, training=HEAD, extra={})
    facts = checkpoint.training_facts(checkpoint.load_checkpoint(path, CPU)[1])
    assert facts["expression_weights"] == "relative" and facts["calibration_batches"] == 3
    assert facts["weight_pdm"] == 0.5 and facts["relative_weight_pdp"] == 0.5
    assert facts["weight_pdp"] == pytest.approx(0.5 * facts["grad_norm_triplet"] / facts["grad_norm_pdp"])
    assert facts["weight_reasons"].startswith("pdm: its gradient at the embedding was 0")
    run_dir = tmp_path / "runs" / "tl_pdm" / "manual" / "repeat0" / "fold0" / "seed0"
    run_dir.mkdir(parents=True)
    record = {"method": "tl_pdm", "labels": "manual", "repeat": 0, "fold": 0, "seed": 0}
    (run_dir / "metrics.json").write_text(json.dumps({**record, "metrics": {"auc": 0.9}, "training": facts}))
    table = runs_table.collect_runs([run_dir / "metrics.json"])
    assert table.loc[0, "weight_pdp"] == pytest.approx(facts["weight_pdp"])
    assert table.loc[0, "weight_reasons"] == facts["weight_reasons"]
    assert runs_table.metric_columns(table) == ["auc"]


def test_an_absolute_recipe_leaves_the_relative_keys_out_so_no_committed_run_reruns():
    training = {"backbone": "compact", "threads": 1, "learning_rate": 0.001, "calibration_batches": 8}
    absolute = study.training_recipe({"training": {**training, "expression_weights": "absolute"}})
    assert absolute == {"backbone": "compact", "learning_rate": 0.001}
    relative = study.training_recipe({"training": {**training, "expression_weights": "relative"}})
    assert relative == {**absolute, "expression_weights": "relative", "calibration_batches": 8}
