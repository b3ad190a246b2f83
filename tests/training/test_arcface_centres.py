"""ArcFace's class centres started at the training people's mean embeddings (training.arcface_centres:
class_means): each centre against a plain per-person mean, nothing else a run draws changes, random stays the
default."""

from __future__ import annotations

import math

import pytest
import torch
from demo_runs import TRAINING, descriptor_sets

from emoverify import study
from emoverify.losses import ArcFaceHead, LossInputError
from emoverify.model.embedding import embed
from emoverify.training import loop
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import TrainingSettings

CPU = torch.device("cpu")
HEAD = {**TRAINING, "backbone": "head", "features": "dlib", "head_hidden": 32}
ARCFACE = {"primary": "arcface", "geometry": "spherical", "aux": {"pdm": 0.1}}


def plain_centres(emb, ids) -> list[list[float]]:
    """Per class, in code order: the mean of its rows, divided by its length, summed by hand."""
    centres = []
    for code in sorted(set(ids.tolist())):
        rows = [row for row, label in zip(emb.tolist(), ids.tolist()) if label == code]
        mean = [sum(column) / len(rows) for column in zip(*rows)]
        length = math.sqrt(sum(value * value for value in mean))
        centres.append([value / length for value in mean])
    return centres


def test_each_centre_is_its_class_mean_direction():
    generator = torch.Generator().manual_seed(0)
    emb = torch.randn(20, 6, generator=generator, dtype=torch.float64)
    ids = torch.arange(20) % 4
    head = ArcFaceHead(6, 4, 30.0, 0.5).double()
    head.start_at_class_means(emb, ids)
    assert head.weight.requires_grad
    torch.testing.assert_close(head.weight.detach(), torch.tensor(plain_centres(emb, ids), dtype=torch.float64))


def test_a_class_without_embeddings_is_named():
    with pytest.raises(LossInputError, match=r"none for \[2\]"):
        ArcFaceHead(4, 3, 30.0, 0.5).start_at_class_means(torch.randn(4, 4), torch.tensor([0, 1, 0, 1]))


@pytest.fixture(scope="module")
def sets():
    return descriptor_sets()


def set_up(sets, method, **changes):
    settings = TrainingSettings.from_recipe({**HEAD, **changes})
    return loop.set_up_training(prepare_fold(sets["train"]), method=method, settings=settings, seed=3, device=CPU)


def draws(setup):
    setup.sampler.set_epoch(1)
    return [list(batch) for batch in setup.sampler], torch.rand(3, generator=setup.generator)


def test_a_run_starts_its_centres_at_the_untrained_models_class_means_and_draws_nothing_else(sets):
    chosen = set_up(sets, ARCFACE, arcface_centres="class_means")
    emb = torch.from_numpy(embed(chosen.model, sets["train"].images, CPU, flip_average=False)).double()
    expected = torch.tensor(plain_centres(emb, chosen.ids), dtype=torch.float64)
    centres = chosen.objective.primary_loss.head.weight.detach().double()
    torch.testing.assert_close(centres, expected, rtol=1e-5, atol=1e-6)
    default = set_up(sets, ARCFACE)
    assert TrainingSettings.from_recipe(HEAD).arcface_centres == "random"
    explicit = set_up(sets, ARCFACE, arcface_centres="random")
    random_centres = default.objective.primary_loss.head.weight.detach()
    assert torch.equal(random_centres, explicit.objective.primary_loss.head.weight.detach())
    assert not torch.allclose(random_centres.double(), expected, atol=1e-3)
    for name, value in default.model.state_dict().items():  # the network and every draw as before
        assert torch.equal(chosen.model.state_dict()[name], value), name
    (batches, flips), (default_batches, default_flips) = draws(chosen), draws(default)
    assert batches == default_batches and torch.equal(flips, default_flips)


def test_a_triplet_objective_has_no_centres_to_start():
    triplet = {"primary": "triplet", "geometry": "spherical", "aux": {}}
    setup = set_up(descriptor_sets(), triplet, arcface_centres="class_means")
    assert not list(setup.objective.parameters())


def test_random_centres_leave_the_key_out_of_a_recipe_so_no_committed_run_reruns():
    training = {"backbone": "compact", "learning_rate": 0.001, "expression_weights": "absolute"}
    assert "arcface_centres" not in study.training_recipe({"training": {**training, "arcface_centres": "random"}})
    chosen = study.training_recipe({"training": {**training, "arcface_centres": "class_means"}})
    assert chosen["arcface_centres"] == "class_means"
