"""Every name a study is built from, in one place: losses, mining, geometries, label sources, references.

The config schema, the Snakemake wildcard constraints, the losses, the plan and the report all read these;
a test checks that the schema's enums and the wildcard patterns equal them.
"""

from __future__ import annotations

PRIMARY_LOSSES: tuple[str, ...] = ("triplet", "arcface", "arcface_geodesic")
EXPRESSION_LOSSES: tuple[str, ...] = ("pdm", "pdp", "fbv", "ce", "mtl")
MINING_MODES: tuple[str, ...] = ("all", "batch_hard", "semi_hard")
GEOMETRIES: tuple[str, ...] = ("spherical", "euclidean")
# head: a small network trained on a pretrained recognizer's cached descriptors (the pretrained regime)
BACKBONES: tuple[str, ...] = ("compact", "inception_resnet_v1", "head")
PRETRAINED_WEIGHTS: tuple[str, ...] = ("none", "vggface2", "casia-webface")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
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
BATCH_SAMPLERS: tuple[str, ...] = ("random", "expression_spread", "expression_pairs")
LABEL_SOURCES: tuple[str, ...] = (*EXPRESSION_LABEL_SOURCES, NO_LABELS)

# Pretrained recognizers whose descriptors the features stage caches (features/<name>.npz); each is a reference.
# dlib: bundled weights; facenet_*: facenet-pytorch's InceptionResnetV1 when its weight file is on the machine.
FEATURE_EXTRACTORS: tuple[str, ...] = ("dlib", "facenet_vggface2", "facenet_casia")
FEATURE_SIZES: dict[str, int] = {"dlib": 128, "facenet_vggface2": 512, "facenet_casia": 512}  # descriptor lengths
# Scored like a run: raw pixels and the untrained network (what training must beat), and the pretrained
# recognizers (what "good" means).
REFERENCES: tuple[str, ...] = ("pixels", "untrained", *FEATURE_EXTRACTORS)


def needs_expressions(method_spec: dict) -> bool:
    """Whether a method has a loss term that reads expression labels (a weight of 0 reads none)."""
    return any(weight > 0 for name, weight in method_spec.get("aux", {}).items() if name in EXPRESSION_LOSSES)


def wildcard_pattern(names: tuple[str, ...]) -> str:
    """A Snakemake wildcard constraint that accepts exactly ``names``."""
    return "|".join(names)
