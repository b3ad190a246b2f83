"""Every name a study is built from, in one place: losses, mining, geometries, label sources, references.

The config schema's enums (written from these by ``python -m emoverify.schema``, and kept equal by
tests/test_schema.py), the Snakemake wildcard constraints, the losses, the plan and the report all read these.
The loss names are the file names of the loss modules (``emoverify/losses/primary/`` and
``emoverify/losses/expression/``, one class each), read without importing them so that planning a study never
imports torch.
"""

from __future__ import annotations

from pathlib import Path

PRIMARY = "primary"  # identity losses
EXPRESSION = "expression"  # losses that read expression labels
LOSS_KINDS: tuple[str, ...] = (PRIMARY, EXPRESSION)
_LOSS_MODULES = Path(__file__).resolve().parent / "losses"
_ADDED_LOSSES: dict[str, dict[str, type]] = {kind: {} for kind in LOSS_KINDS}
# the paper's order (section III), in which tables list the losses; a loss not named here follows, by name
PAPER_ORDER: tuple[str, ...] = ("triplet", "arcface", "arcface_geodesic", "pdm", "pdp", "fbv", "ce", "mtl")
MINING_MODES: tuple[str, ...] = ("all", "batch_hard", "semi_hard")
GEOMETRIES: tuple[str, ...] = ("spherical", "euclidean")
# head: a small network trained on a pretrained recognizer's cached descriptors (the pretrained regime);
# dlib_resnet: dlib's own ResNet in torch, fine-tuned from its top down to a level (the fine-tune regime)
BACKBONES: tuple[str, ...] = ("compact", "inception_resnet_v1", "head", "dlib_resnet")
# dlib_resnet's trainable part (with the fc layer): the last residual level, from level 1 up, from level 2 up, or
# the whole network; the levels below it are frozen and their output cached (model.dlib_resnet.LEVELS)
FINETUNE_LEVELS: tuple[str, ...] = ("level0", "level1", "level2", "all")
# the head's projection: trained with its residual branch, or kept at its starting rotation (residual only)
HEAD_PROJECTIONS: tuple[str, ...] = ("trainable", "frozen")
PRETRAINED_WEIGHTS: tuple[str, ...] = ("none", "vggface2", "casia-webface")
OPTIMIZERS: tuple[str, ...] = ("adam", "adam_fused", "sgd")
# what early stopping ranks epochs by (training.loop.early_stopping_score): the watched figure wherever the
# validation people give it, or only where it rose above its starting model's noise (AUC until then)
EARLY_STOPPING_MODES: tuple[str, ...] = ("watched", "resolved")
EARLY_STOPPING_KEYS: tuple[str, ...] = ("early_stopping", "min_epochs")  # the training keys of early stopping
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
FACE_DETECTORS: tuple[str, ...] = ("mtcnn", "none")
FACE_POLICIES: tuple[str, ...] = ("reject", "largest", "central")  # an image with several faces
DATASET_ADAPTERS: tuple[str, ...] = ("demo", "ckplus", "ckplus48", "jaffe", "folder", "csv")

MANUAL = "manual"
DETECTED = "detected"
# the information-only control: a real source's training labels permuted within each person (whole sessions
# move together), so every person keeps their label histogram and every loss its number of pairs
SHUFFLED = "shuffled"
# the across-person control: the training labels permuted among all training images of the fold
SHUFFLED_ACROSS = "shuffled_across"
SHUFFLED_SOURCES: tuple[str, ...] = (SHUFFLED, SHUFFLED_ACROSS)
NO_LABELS = "none"  # the label source of runs whose objective reads no expression label
EXPRESSION_LABEL_SOURCES: tuple[str, ...] = (MANUAL, DETECTED, SHUFFLED, SHUFFLED_ACROSS)
OWN_LABEL_SOURCES: tuple[str, ...] = (MANUAL, DETECTED)  # the sources with labels of their own
BATCH_SAMPLERS: tuple[str, ...] = ("random", "expression_spread", "expression_pairs")
LABEL_SOURCES: tuple[str, ...] = (*EXPRESSION_LABEL_SOURCES, NO_LABELS)

# Pretrained recognizers whose descriptors the features stage caches (features/<name>.npz); each is a reference.
# dlib: bundled weights; facenet_*: facenet-pytorch's InceptionResnetV1 when its weight file is on the machine.
FEATURE_EXTRACTORS: tuple[str, ...] = ("dlib", "facenet_vggface2", "facenet_casia")
FEATURE_SIZES: dict[str, int] = {"dlib": 128, "facenet_vggface2": 512, "facenet_casia": 512}  # descriptor lengths
# Scored like a run: raw pixels and the untrained network (what training must beat), and the pretrained
# recognizers (what "good" means).
REFERENCES: tuple[str, ...] = ("pixels", "untrained", *FEATURE_EXTRACTORS)

# what the folds are drawn from (the config key partition): everyone but the development people, or those alone
DEVELOPMENT = "development"  # also the split of the development people, in every fold unit of the study
PARTITIONS: tuple[str, ...] = ("study", DEVELOPMENT)
# how the development people are drawn (the config key development_partition)
SORTED_DRAW, HASH_DRAW = "sorted", "hash"
DEVELOPMENT_DRAWS: tuple[str, ...] = (SORTED_DRAW, HASH_DRAW)
# whose faces labels.min_expression_images counts (labels.min_expression_images_on)
ALL_PEOPLE, TRAINING_PEOPLE = "all", "training"
EXPRESSION_COUNTS: tuple[str, ...] = (ALL_PEOPLE, TRAINING_PEOPLE)

# what a method's expression weights mean: the weight on a term's value, or a multiple of the primary loss's pull
ABSOLUTE, RELATIVE = "absolute", "relative"
EXPRESSION_WEIGHT_MODES: tuple[str, ...] = (ABSOLUTE, RELATIVE)
RELATIVE_WEIGHT_KEYS: tuple[str, ...] = ("expression_weights", "calibration_batches")  # their training keys

# where ArcFace's class centres start (training.arcface_centres): random directions, or the training people's
# mean embeddings under the untrained network
RANDOM_CENTRES, CLASS_MEANS = "random", "class_means"
ARCFACE_CENTRE_STARTS: tuple[str, ...] = (RANDOM_CENTRES, CLASS_MEANS)
ARCFACE_CENTRES = "arcface_centres"  # its training key

# the keys of a method's tuning grid besides each expression loss's weight: one weight for every expression term
# of a method, and the training knobs a grid may move
EXPRESSION_WEIGHT = "expression_weight"
TRAINING_KNOBS: tuple[str, ...] = ("margin", "arcface_margin", "fbv_scale", "learning_rate")


def loss_names(kind: str) -> tuple[str, ...]:
    """The losses of one kind: a module per loss under ``emoverify/losses/<kind>/`` (in the paper's order,
    then by name), then the classes added with :func:`add_loss`."""
    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown kind of loss {kind!r}; allowed: {', '.join(LOSS_KINDS)}")
    found = [path.stem for path in (_LOSS_MODULES / kind).glob("*.py") if not path.stem.startswith("_")]
    modules = sorted(
        found, key=lambda name: (PAPER_ORDER.index(name) if name in PAPER_ORDER else len(PAPER_ORDER), name)
    )
    return (*modules, *sorted(set(_ADDED_LOSSES[kind]) - set(modules)))


def primary_losses() -> tuple[str, ...]:
    """The identity losses a method's ``primary`` may name."""
    return loss_names(PRIMARY)


def expression_losses() -> tuple[str, ...]:
    """The expression losses a method's ``aux`` may weight."""
    return loss_names(EXPRESSION)


def add_loss(kind: str, loss_class: type) -> None:
    """Make a loss class defined outside ``emoverify/losses/`` known by its ``name`` (a plug-in or a test)."""
    name = getattr(loss_class, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a loss class needs a `name` that is a Python identifier, got {name!r}")
    if name in loss_names(kind) and _ADDED_LOSSES[kind].get(name) is not loss_class:
        raise ValueError(f"there is already a {kind} loss named {name!r}")
    _ADDED_LOSSES[kind][name] = loss_class


def remove_loss(kind: str, name: str) -> None:
    """Forget a loss added with :func:`add_loss`."""
    _ADDED_LOSSES[kind].pop(name, None)


def added_loss(kind: str, name: str) -> type | None:
    """The class added under ``name``, or None for the losses of ``emoverify/losses/``."""
    return _ADDED_LOSSES[kind].get(name)


def needs_expressions(method_spec: dict) -> bool:
    """Whether a method has a loss term that reads expression labels (a weight of 0 reads none)."""
    expression = expression_losses()
    return any(weight > 0 for name, weight in method_spec.get("aux", {}).items() if name in expression)


def wildcard_pattern(names: tuple[str, ...]) -> str:
    """A Snakemake wildcard constraint that accepts exactly ``names``."""
    return "|".join(names)
