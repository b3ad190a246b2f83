"""The fine-tune regime (backbone dlib_resnet): untrained it is dlib at every level, training changes its
trainable part alone, every loss trains it, flips pick the cached mirror images, and a checkpoint holds only
what trained."""

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import TRAINING, TRIPLET

from emoverify import registry
from emoverify.data.demo import generate_demo
from emoverify.evaluation import verification
from emoverify.model import checkpoint
from emoverify.model.embedding import embed, to_model_input
from emoverify.model.networks import model_from_recipe
from emoverify.splits.fold_data import FaceSet, expression_codes, load_images
from emoverify.training import loop
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import Progress, TrainingSettings

dlib_resnet = pytest.importorskip("emoverify.model.dlib_resnet")
finetune = pytest.importorskip("emoverify.model.finetune")
CPU = torch.device("cpu")


def recipe(level, **changes):
    return {
        **TRAINING,
        "backbone": "dlib_resnet",
        "finetune": level,
        "dlib_weights": "",
        "embedding_dim": 128,
        "batch_identities": 3,
        "images_per_identity": 2,
        "batches_per_epoch": 2,
        "learning_rate": 1e-3,
        "weight_decay": 5e-4,
        **changes,
    }


@pytest.fixture(scope="module")
def network():
    try:
        return finetune._parsed_network(None)
    except Exception as error:  # the weight file's package is absent
        pytest.skip(f"dlib's network file is not available: {error}")


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    """Drawn faces at the chip size, 7 people x 7 expressions x 2 (same-expression pairs for PDM), split
    3 / 2 / 2 people."""
    root = tmp_path_factory.mktemp("finetune")
    table = generate_demo(root, n_identities=7, images_per_expression=2, image_size=150, seed=4)
    images = load_images([root / path for path in table["path"]], 150)
    people = sorted(table["identity"].unique())
    return table, images, {"train": people[:3], "val": people[3:5], "test": people[5:]}


SETS: dict[str, dict[str, FaceSet]] = {}  # per level, computed once for the module


def face_sets(chips, network, level) -> dict[str, FaceSet]:
    """The splits as a run of ``level`` reads them: chips (all), or cached activations with their mirror rows."""
    if level in SETS:
        return SETS[level]
    table, images, split = chips
    sets = SETS[level] = {}
    for name, people in split.items():
        keep = table["identity"].isin(people).to_numpy()
        rows = images[torch.from_numpy(keep.copy())]
        mirrored = None
        if level != "all":
            mirrored = dlib_resnet.activations(network, rows, level, flip=True)
            rows = dlib_resnet.activations(network, rows, level)
        codes = expression_codes(table.loc[keep, "emotion"])
        sets[name] = FaceSet(
            image_ids=[str(i) for i in np.flatnonzero(keep)],
            images=rows,
            identities=table.loc[keep, "identity"].to_numpy(),
            sessions=np.array([""] * int(keep.sum())),
            expressions=codes,
            manual_expressions=codes,
            mirrored=mirrored,
            batch_expressions=codes,  # batches shaped by the labels, as a study's sampler does
        )
    return sets


@pytest.fixture(scope="module")
def level0_sets(chips, network):
    return face_sets(chips, network, "level0")


def descriptors(network, images) -> np.ndarray:
    with torch.no_grad():
        return network(to_model_input(images)).numpy()


@pytest.mark.parametrize("level", dlib_resnet.LEVELS)
def test_the_untrained_network_is_dlib_at_every_level_and_never_averages_a_mirror(chips, network, level):
    sets = face_sets(chips, network, level)
    test_chips = chips[1][torch.from_numpy(chips[0]["identity"].isin(chips[2]["test"]).to_numpy().copy())]
    expected = descriptors(network, test_chips)
    free = model_from_recipe(recipe(level), "euclidean")
    np.testing.assert_allclose(embed(free, sets["test"].images, CPU), expected, atol=1e-5)
    untrained = verification.untrained_model(recipe(level), 0, CPU)  # the untrained reference: on the sphere
    normalised = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(embed(untrained, sets["test"].images, CPU), normalised, atol=1e-5)
    assert not untrained.averages_mirror and loop.untrained_is_candidate(recipe(level))


def snapshot(module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


@pytest.mark.parametrize("level", dlib_resnet.LEVELS)
def test_a_few_steps_change_the_trainable_part_and_nothing_else(chips, network, level):
    sets = face_sets(chips, network, level)
    parsed = snapshot(network)
    settings = TrainingSettings.from_recipe(recipe(level))
    setup = loop.set_up_training(prepare_fold(sets["train"]), method=TRIPLET, settings=settings, seed=0, device=CPU)
    trainable = network.trainable_part(level)
    assert sum(p.numel() for p in setup.model.parameters()) == sum(p.numel() for p in trainable.parameters())
    before = snapshot(setup.model)
    losses = loop.train_one_epoch(setup, sets["train"], settings, 1, CPU)
    assert np.isfinite(losses["total"]) and losses["total"] > 0
    after = snapshot(setup.model)
    parameters = {name for name, _ in setup.model.named_parameters()}
    assert parameters and all(not torch.equal(before[name], after[name]) for name in parameters)
    buffers = set(after) - parameters  # the affine layers' scale and shift (and the input means at all)
    assert buffers and all(torch.equal(before[name], after[name]) for name in buffers)
    for name, value in snapshot(network).items():  # the network every run copies is untouched
        assert torch.equal(value, parsed[name]), name


def every_loss_method() -> list[dict]:
    """Each identity loss alone, and each expression term beside the triplet loss in both geometries."""
    methods = [{"primary": name, "geometry": "spherical", "aux": {}} for name in registry.primary_losses()]
    for name in registry.expression_losses():
        methods += [
            {"primary": "triplet", "geometry": geometry, "aux": {name: 0.5}} for geometry in registry.GEOMETRIES
        ]
    return methods


@pytest.mark.parametrize(
    "method", every_loss_method(), ids=lambda m: f"{m['primary']}-{m['geometry']}-{'-'.join(m['aux'])}"
)
def test_every_loss_trains_the_network_from_cached_activations(level0_sets, method):
    result = loop.train_model(
        prepare_fold(level0_sets["train"], level0_sets["val"]),
        method=method,
        settings=TrainingSettings.from_recipe(recipe("level0", sampler="expression_pairs", images_per_identity=4)),
        epochs=1,
        seed=1,
        device=CPU,
        progress=Progress(show=False),
    )
    trained = result.history[result.history["epoch"] == 1]
    assert len(trained) == 1 and np.isfinite(trained["total"]).all()
    for name in method["aux"]:
        assert np.isfinite(trained[name]).all() and result.pairs_seen[name] > 0
    assert result.history["epoch"].iloc[0] == 0  # dlib itself is a candidate of early stopping


def test_a_flip_picks_the_cached_mirror_rows_and_draws_as_an_image_flip_does(level0_sets):
    rows, mirrored = level0_sets["train"].images[:16], level0_sets["train"].mirrored[:16]
    picked = loop.augment(rows, True, 4, torch.Generator().manual_seed(3), mirrored)
    chosen = torch.rand(16, generator=torch.Generator().manual_seed(3)) < 0.5
    for index in range(16):
        assert torch.equal(picked[index], (mirrored if chosen[index] else rows)[index])
    assert 0 < int(chosen.sum()) < 16
    assert torch.equal(loop.augment(rows, False, 4, torch.Generator().manual_seed(3), mirrored), rows)


def test_a_level0_checkpoint_holds_the_trainable_part_alone_and_reloads(level0_sets, network, tmp_path):
    no_validation = level0_sets["val"].subset(np.zeros(len(level0_sets["val"]), dtype=bool))  # ships a trained epoch
    result = loop.train_model(
        prepare_fold(level0_sets["train"], no_validation),
        method=TRIPLET,
        settings=TrainingSettings.from_recipe(recipe("level0", learning_rate=0.01)),
        epochs=1,
        seed=0,
        device=CPU,
        progress=Progress(show=False),
    )
    assert result.best_epoch == 1
    path = tmp_path / "model.pt"
    checkpoint.save_checkpoint(path, result, method=TRIPLET, training=recipe("level0"), extra={})
    reloaded, state = checkpoint.load_checkpoint(path, CPU)
    assert len(state["model_state"]) == len(network.trainable_part("level0").state_dict())
    rows = level0_sets["test"].images
    np.testing.assert_allclose(embed(reloaded, rows, CPU), embed(result.model, rows, CPU), atol=1e-6)
    untrained = embed(model_from_recipe(recipe("level0"), "spherical"), rows, CPU)
    assert np.abs(embed(reloaded, rows, CPU) - untrained).max() > 1e-3


def test_a_finetune_level_outside_the_list_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown finetune level 'level3'"):
        model_from_recipe(recipe("level3"), "spherical")


def test_dlib_frames_are_described_in_one_pass(chips, network):
    model = model_from_recipe(recipe("all"), "euclidean")
    images = chips[1][:4]
    np.testing.assert_allclose(embed(model, images, CPU, flip_average=True), descriptors(network, images), atol=1e-5)
    assert pd.Series(registry.FINETUNE_LEVELS).tolist() == list(dlib_resnet.LEVELS)


def test_relative_weights_calibrate_on_cached_activations_and_their_mirror_rows(level0_sets):
    """The fine-tune regime measures at the same embedding: a relative run equals the absolute run given the
    weights it measured (the calibration's flips drew from a copy of the run's generator)."""
    method = {"primary": "arcface", "geometry": "spherical", "aux": {"pdm": 1.0}}
    training = recipe("level0", sampler="expression_pairs", images_per_identity=4)
    results = []
    for changes, aux in (({"expression_weights": "relative", "calibration_batches": 2}, {"pdm": 1.0}), ({}, None)):
        aux = aux or results[0].weight_calibration.weights
        results.append(
            loop.train_model(
                prepare_fold(level0_sets["train"], level0_sets["val"]),
                method={**method, "aux": aux},
                settings=TrainingSettings.from_recipe({**training, **changes}),
                epochs=1,
                seed=2,
                device=CPU,
                progress=Progress(show=False),
            )
        )
    calibrated = results[0].weight_calibration
    assert calibrated.reasons == {} and calibrated.gradient_norms["arcface"] > calibrated.gradient_norms["pdm"] > 0
    assert calibrated.weights["pdm"] == pytest.approx(
        calibrated.gradient_norms["arcface"] / calibrated.gradient_norms["pdm"]
    )
    pd.testing.assert_frame_equal(
        results[0].history.drop(columns="seconds"), results[1].history.drop(columns="seconds")
    )
