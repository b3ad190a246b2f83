"""dlib's chips kept beside its descriptors, and the activation cache of a fine-tuned dlib network: every usable
face has its chip and every other image its reason, the cached rows are the frozen part's output of each chip and
of its mirror image, and a cache made from other chips or for another level stops the job that reads it."""

import numpy as np
import pandas as pd
import pytest
import torch

from emoverify.data.adapters import load_dataset
from emoverify.data.demo import generate_demo
from emoverify.data.imageio import read_rgb
from emoverify.data.integrity import file_sha1
from emoverify.faces.detect import FaceSettings, prepare_faces
from emoverify.faces.pixels import manifest_digest
from emoverify.features.chips import chips_of_manifest, describe, load_chips, save_chips
from emoverify.features.dlib_activations import cache_from_files, load_activations, save_activations
from emoverify.features.dlib_descriptor import DlibDescriptor, extract_features, extract_features_and_chips
from emoverify.features.store import FeaturesError
from emoverify.model.embedding import to_model_input

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """A demo's faces (6 people, 48 px crops, no detector) with one image that has no usable face, and the
    chips file the dlib features job writes for it."""
    root = tmp_path_factory.mktemp("chips")
    generate_demo(root / "images", n_identities=6, images_per_expression=1, image_size=64, seed=5)
    table = load_dataset("demo", root / "images")
    missing = table.iloc[[0]].assign(image_id="gone", path=str(root / "gone.png"))
    manifest = prepare_faces(pd.concat([table, missing]), root / "crops", FaceSettings(detector="none", size=48))
    manifest.to_csv(root / "manifest.csv", index=False)
    model = DlibDescriptor.load()
    features, cut = extract_features_and_chips(manifest, model=model, batch_size=16, workers=2)
    chips = chips_of_manifest(manifest, features.image_ids, cut, manifest_digest(root / "manifest.csv"))
    save_chips(root / "dlib_chips.npz", chips)
    return root, manifest, model, features


def test_every_usable_face_has_its_chip_and_every_other_image_its_reason(experiment):
    root, manifest, model, features = experiment
    chips = load_chips(root / "dlib_chips.npz")
    usable = manifest[manifest["status"] == "ok"]
    assert chips.image_ids.tolist() == usable["image_id"].tolist() == features.image_ids.tolist()
    assert chips.chips.dtype == np.uint8 and chips.chips.shape == (len(usable), 3, 150, 150)
    assert chips.skipped_reasons() == {"gone": manifest.set_index("image_id").loc["gone", "status"]}
    assert chips.manifest_sha1 == manifest_digest(root / "manifest.csv")
    for row in (0, len(usable) - 1):  # the chip dlib described, channels first
        expected = model.chip(read_rgb(usable["aligned_path"].iloc[row]))
        np.testing.assert_array_equal(chips.chips[row].transpose(1, 2, 0), expected)
    # the descriptors beside the chips are dlib's of those chips, and the plain features job's
    kept = [chips.chips[row].transpose(1, 2, 0) for row in (0, 3)]
    np.testing.assert_array_equal(model.describe(kept), features.descriptors[[0, 3]])
    plain = extract_features(manifest.iloc[:4], model=model)
    np.testing.assert_array_equal(plain.descriptors, features.descriptors[: len(plain)])
    with pytest.raises(FeaturesError, match=r"gone \(no_face|gone \("):
        chips.rows(["gone"])
    assert "1 " in describe(chips, "x") and str(len(usable)) in describe(chips, "x")


def test_a_chip_set_that_misses_a_usable_face_is_refused(experiment):
    _, manifest, _, features = experiment
    usable = manifest[manifest["status"] == "ok"]
    too_few = np.zeros((len(usable) - 1, 150, 150, 3), dtype=np.uint8)
    with pytest.raises(FeaturesError, match="every usable face needs its chip"):
        chips_of_manifest(manifest, features.image_ids[:-1], too_few)


@pytest.fixture(scope="module")
def cache(experiment):
    root = experiment[0]
    from emoverify.model.dlib_resnet import DlibResNet
    from emoverify.model.finetune import _parsed_network

    network = _parsed_network(None)
    assert isinstance(network, DlibResNet)
    computed = cache_from_files(root / "dlib_chips.npz", "level0", network_file(), batch_size=16)
    save_activations(root / "dlib_resnet_level0.npz", computed)
    return root, network


def network_file():
    from emoverify.model.dlib_resnet import default_network_file

    return default_network_file()


def test_the_cache_holds_the_frozen_part_of_every_chip_and_of_its_mirror_image(cache):
    root, network = cache
    chips = load_chips(root / "dlib_chips.npz")
    cached = load_activations(root / "dlib_resnet_level0.npz", "level0", root / "dlib_chips.npz")
    assert cached.image_ids.tolist() == chips.image_ids.tolist()
    assert cached.activations.dtype == np.float32 and cached.activations.shape == (len(chips), 256, 4, 4)
    assert cached.weights == network_file().name and cached.chips_sha1 == file_sha1(root / "dlib_chips.npz")
    images = torch.from_numpy(chips.chips[:5])
    frozen = network.frozen_part("level0")
    with torch.no_grad():
        plain = frozen(to_model_input(images)).numpy()
        mirrored = frozen(to_model_input(images.flip(3))).numpy()
    np.testing.assert_allclose(cached.activations[:5], plain, atol=1e-5)
    np.testing.assert_allclose(cached.mirrored[:5], mirrored, atol=1e-5)
    assert np.abs(cached.mirrored - cached.activations).max() > 0.1  # the mirror image is another input
    # the trainable part on the cached rows gives dlib's descriptor of the chip
    with torch.no_grad():
        descriptor = network.trainable_part("level0")(torch.from_numpy(cached.activations[:5])).numpy()
        whole = network(to_model_input(images)).numpy()
    np.testing.assert_allclose(descriptor, whole, atol=1e-5)
    rows, flipped = cached.rows([chips.image_ids[4], chips.image_ids[1]])
    np.testing.assert_array_equal(rows, cached.activations[[4, 1]])
    np.testing.assert_array_equal(flipped, cached.mirrored[[4, 1]])


def test_a_cache_from_other_chips_or_for_another_level_stops_the_job(cache, tmp_path):
    root, _ = cache
    with pytest.raises(FeaturesError, match="caches the input of level0, the run fine-tunes level1"):
        load_activations(root / "dlib_resnet_level0.npz", "level1")
    changed = load_chips(root / "dlib_chips.npz")
    changed.chips = changed.chips.copy()
    changed.chips[0, 0, 0, 0] ^= 1  # one pixel of one chip
    save_chips(tmp_path / "dlib_chips.npz", changed)
    with pytest.raises(FeaturesError, match="computed from other chips.*forcerun dlib_activations"):
        load_activations(root / "dlib_resnet_level0.npz", "level0", tmp_path / "dlib_chips.npz")
    with pytest.raises(ValueError, match="all reads the chips"):
        cache_from_files(root / "dlib_chips.npz", "all", network_file())
