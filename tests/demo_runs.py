"""One demo fold and a quick training run, shared by the training and evaluation tests (no detector, for speed),
and descriptor-like face sets for the head backbone."""

import numpy as np
import pandas as pd
import torch

from emoverify.splits.fold_data import FaceSet, expression_codes, load_images
from emoverify.training import loop
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import Progress, TrainingSettings

TRAINING = {
    "backbone": "compact",
    "pretrained": "none",
    "pretrained_path": "",
    "width": 8,
    "embedding_dim": 16,
    "input_size": 32,
    "batch_identities": 4,
    "images_per_identity": 4,
    "batches_per_epoch": 6,
    "learning_rate": 0.003,
    "weight_decay": 0.0,
    "optimizer": "adam",
    "patience": 10,
    "margin": 0.2,
    "mining": "all",
    "arcface_scale": 30.0,
    "arcface_margin": 0.5,
    "fbv_scale": 1.0,
    "augment_flip": True,
    "augment_crop": 2,
    "mixed_precision": True,
    "sampler": "random",
    "sampler_labels": "manual",
}
EVALUATION = {"exclude_same_session": True, "rank1_draws": 5}
TRIPLET = {"primary": "triplet", "geometry": "spherical", "aux": {}}
FBV = {"primary": "triplet", "geometry": "euclidean", "aux": {"fbv": 0.1, "pdp": 0.1}}


def face_set(table: pd.DataFrame, root) -> FaceSet:
    return FaceSet(
        image_ids=[f"{i}" for i in range(len(table))],
        images=load_images([root / p for p in table["path"]], TRAINING["input_size"]),
        identities=table["identity"].to_numpy(),
        sessions=np.array([""] * len(table)),
        expressions=expression_codes(table["emotion"]),
        manual_expressions=expression_codes(table["emotion"]),
    )


def make_demo_sets(tmp_path_factory):
    from emoverify.data.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    table = generate_demo(root, n_identities=14, images_per_expression=2, image_size=64, seed=3)
    people = sorted(table["identity"].unique())
    split = {"train": people[:8], "val": people[8:11], "test": people[11:]}
    return {
        name: face_set(table[table["identity"].isin(ids)].reset_index(drop=True), root) for name, ids in split.items()
    }


def run(demo_sets, method=TRIPLET, epochs=4, seed=0, training=TRAINING, train_set=None):
    train_set = demo_sets["train"] if train_set is None else train_set
    device = torch.device("cpu")
    return loop.train_model(
        prepare_fold(train_set, demo_sets["val"]),
        method=method,
        settings=TrainingSettings.from_recipe(training),
        epochs=epochs,
        seed=seed,
        device=device,
        progress=Progress(show=False),
    )


DESCRIPTOR_SIZE = 128  # dlib's descriptor length


def descriptor_sets(seed=0, people=14, per_person=8, identity_dims=16):
    """Descriptor-like rows: people differ in a shared identity subspace (the first dimensions); every image
    adds a large nuisance vector elsewhere (pose, light, expression), which a trained head learns to drop."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((people, DESCRIPTOR_SIZE))
    centres[:, :identity_dims] = rng.normal(size=(people, identity_dims))
    identities = np.repeat([f"p{p:02d}" for p in range(people)], per_person)
    nuisance = rng.normal(size=(people * per_person, DESCRIPTOR_SIZE))
    nuisance[:, :identity_dims] *= 0.2
    rows = np.repeat(centres, per_person, axis=0) + 0.6 * nuisance
    expressions = np.tile(np.arange(per_person) % 7, people)
    sets = {}
    for split, chosen in {"train": range(8), "val": range(8, 11), "test": range(11, people)}.items():
        keep = np.isin(identities, [f"p{p:02d}" for p in chosen])
        sets[split] = FaceSet(
            image_ids=[f"img{i}" for i in np.flatnonzero(keep)],
            images=torch.from_numpy(rows[keep].astype(np.float32)),
            identities=identities[keep],
            sessions=np.array([""] * keep.sum()),
            expressions=expressions[keep],
            manual_expressions=expressions[keep],
        )
    return sets
