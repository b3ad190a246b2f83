"""Aligned faces of one fold, loaded into memory once, with integer identity and expression codes from the
run's label source."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from emoverify.faces.pixels import PixelCache, decode_crops
from emoverify.features.chips import Chips, load_chips
from emoverify.features.dlib_activations import Activations, load_activations
from emoverify.features.store import Features, load_features
from emoverify.labels import sources
from emoverify.registry import NO_LABELS, SHUFFLED_ACROSS, SHUFFLED_SOURCES
from emoverify.vocabulary import EXPRESSIONS

SPLITS = ("train", "val", "test")
SHUFFLE_SEED = 20210305  # the shuffled-label control's seed, fixed for every study


@dataclass
class FaceSet:
    """Faces of one split: uint8 images (N x 3 x S x S), a pretrained recognizer's descriptors (N x F floats)
    for a head backbone, or dlib's cached activations (N x C x H x W floats) for a fine-tuned dlib network below
    ``all``, and their labels; ``mirrored`` holds the cached activations of the mirror images (flip augmentation
    picks them), None where the loop flips the images itself or nothing flips."""

    image_ids: list[str]
    images: torch.Tensor
    identities: np.ndarray  # identity names
    sessions: np.ndarray  # "" where unknown
    expressions: np.ndarray  # expression codes used by the losses, -1 unknown
    manual_expressions: np.ndarray  # dataset labels as codes, -1 unknown (for the cross-expression breakdown)
    batch_expressions: np.ndarray | None = None  # the labels that shape training batches (None: random batches)
    mirrored: torch.Tensor | None = None  # the mirror images' cached activations, row by row

    def __len__(self) -> int:
        return len(self.image_ids)

    def subset(self, keep: np.ndarray) -> FaceSet:
        """The faces where the boolean mask ``keep`` is true, in the same order."""
        keep = np.asarray(keep, dtype=bool)
        return FaceSet(
            [image_id for image_id, kept in zip(self.image_ids, keep) if kept],
            self.images[torch.from_numpy(keep)],
            self.identities[keep],
            self.sessions[keep],
            self.expressions[keep],
            self.manual_expressions[keep],
            None if self.batch_expressions is None else self.batch_expressions[keep],
            None if self.mirrored is None else self.mirrored[torch.from_numpy(keep)],
        )

    def batch_codes(self) -> np.ndarray:
        """The expression codes that shape training batches; all unknown (-1) for random batches."""
        if self.batch_expressions is None:
            return np.full(len(self), -1, dtype=np.int64)
        return self.batch_expressions

    def identity_codes(self) -> np.ndarray:
        """Identities as 0..n-1 in sorted-name order (stable across runs)."""
        _, codes = np.unique(self.identities, return_inverse=True)
        return codes


def expression_codes(names) -> np.ndarray:
    """Canonical expression names to indices into EXPRESSIONS; "" (unknown) becomes -1."""
    lookup = {name: index for index, name in enumerate(EXPRESSIONS)}
    return np.array([lookup.get(str(name) if isinstance(name, str) else "", -1) for name in names], dtype=np.int64)


def load_images(paths, size: int) -> torch.Tensor:
    """Read aligned crops as an N x 3 x size x size uint8 tensor (resized when needed)."""
    return torch.from_numpy(decode_crops(paths, size)).permute(0, 3, 1, 2).contiguous()


def fold_faces(
    manifest: pd.DataFrame,
    folds: pd.DataFrame,
    fold: int,
    split: str,
    expressions: pd.Series,
    input_size: int,
    repeat: int = 0,
    descriptors: Features | None = None,
    pixels: PixelCache | None = None,
    cached: Chips | Activations | None = None,
) -> FaceSet:
    """The faces of one split of one fold (of one repeat of the cross-validation).

    `expressions` maps image_id to the canonical expression the losses should see ("" unknown); with
    ``descriptors`` (a features stage file, loaded) each face is its cached descriptor instead of its image;
    with ``pixels`` (the experiment's pixel cache, opened at ``input_size``) its image comes from the cache
    instead of its crop file; with ``cached`` (dlib's chips, or cached activations and their mirrored rows) its
    rows there.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    chosen = folds[_in_unit(folds, repeat, fold) & (folds["split"] == split)]["image_id"]
    rows = manifest.set_index("image_id").loc[chosen.tolist()]
    ids = rows.index.astype(str).tolist()
    sessions = rows["session"].fillna("").astype(str).to_numpy() if "session" in rows else np.array([""] * len(ids))
    manual = rows["emotion_manual"].fillna("").astype(str) if "emotion_manual" in rows else pd.Series([""] * len(ids))
    images, mirrored = cached_rows(cached, ids) if cached is not None else (None, None)
    return FaceSet(
        image_ids=ids,
        images=images if cached is not None else face_images(rows, ids, input_size, descriptors, pixels),
        identities=rows["identity"].astype(str).to_numpy(),
        sessions=sessions,
        expressions=expression_codes(expressions.reindex(ids).fillna("").tolist()),
        manual_expressions=expression_codes(manual.tolist()),
        mirrored=mirrored,
    )


def cached_rows(cached: Chips | Activations, ids: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A fine-tuned dlib network's input for ``ids``: chips (the loop flips them), or cached activations with
    their mirror images' rows."""
    if isinstance(cached, Chips):
        return torch.from_numpy(cached.rows(ids)), None
    plain, mirrored = cached.rows(ids)
    return torch.from_numpy(plain), torch.from_numpy(mirrored)


def face_images(rows: pd.DataFrame, ids: list[str], input_size: int, descriptors, pixels) -> torch.Tensor:
    """What a network reads for each face: its cached descriptor, its row of the pixel cache, or its decoded
    crop."""
    if descriptors is not None:
        return descriptor_rows(descriptors, ids)
    if pixels is not None:
        return torch.from_numpy(pixels.rows(ids))
    return load_images(rows["aligned_path"].tolist(), input_size)


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


def _in_unit(folds: pd.DataFrame, repeat: int, fold: int) -> pd.Series:
    """Rows of one (repeat, fold); a folds table without repeats is repeat 0."""
    in_repeat = folds["repeat"] == repeat if "repeat" in folds else pd.Series(repeat == 0, index=folds.index)
    return in_repeat & (folds["fold"] == fold)


def source_expressions(manifest: pd.DataFrame, label_params: dict, detected: pd.DataFrame | None) -> pd.Series:
    """The expression of every image from a manual or detected source ("" unknown), expressions shown on fewer
    than ``min_expression_images`` usable faces made unknown."""
    threshold = label_params.get("confidence_threshold", 0.0)
    labels = sources.resolve_expressions(manifest, detected, label_params["source"], threshold)
    min_images = label_params.get("min_expression_images", 0)
    if min_images <= 1:
        return labels
    usable = manifest.loc[manifest["status"] == "ok", "image_id"] if "status" in manifest else manifest["image_id"]
    kept = sources.drop_rare_expressions(labels.loc[usable.astype(str)], min_images)
    return kept.reindex(labels.index, fill_value="")


def shuffled_expressions(
    base: pd.Series, train_ids, *, repeat: int, fold: int, identities=None, sessions=None
) -> pd.Series:
    """A shuffled-label control of one fold unit, with a seed fixed per (repeat, fold) so every method and seed
    sees the same shuffle; validation and test images keep their labels (no loss reads them).

    With ``identities`` (image_id -> identity) the known labels are permuted within each identity, so every
    person keeps their label histogram and every expression loss the same number of pairs as with the true
    labels: the information-only control. Where ``sessions`` (image_id -> session, "" unknown) name
    recordings, a session's labels move together: whole sessions swap their labels with the identity's other
    sessions of as many labelled images (an image without a session is a session of its own). Without
    ``identities`` the known labels are permuted among all the training images (class frequencies kept):
    the across-person control.
    """
    shuffled = base.copy()
    label = base.to_dict()
    known = [image for image in train_ids if label.get(image, "") != ""]
    rng = np.random.default_rng([SHUFFLE_SEED, repeat, fold])
    if identities is None:
        shuffled.loc[known] = shuffled.loc[known].to_numpy()[rng.permutation(len(known))]
        return shuffled
    moved: dict[str, str] = {}  # the blocks are disjoint, so each takes its labels from the unshuffled ones
    for blocks in _session_blocks(known, dict(identities), None if sessions is None else dict(sessions)):
        order = rng.permutation(len(blocks))
        for block, source in zip(blocks, order):
            moved.update(zip(block, (label[image] for image in blocks[source])))
    if moved:
        shuffled.loc[list(moved)] = list(moved.values())
    return shuffled


def _session_blocks(known: list[str], identities, sessions) -> list[list[list[str]]]:
    """Groups of interchangeable blocks: per identity and block size, the blocks (a session's labelled
    training images, or one image without a session), in a stable order."""
    blocks: dict[tuple, list[str]] = {}
    for image in known:
        session = "" if sessions is None else str(sessions.get(image, "") or "")
        key = (str(identities[image]), session) if session else (str(identities[image]), "\0" + image)
        blocks.setdefault(key, []).append(image)
    groups: dict[tuple, list[list[str]]] = {}
    for (identity, _), images in sorted(blocks.items()):
        groups.setdefault((identity, len(images)), []).append(images)
    return [groups[key] for key in sorted(groups)]


def run_expressions(
    manifest: pd.DataFrame,
    label_params: dict,
    detected: pd.DataFrame | None,
    folds: pd.DataFrame | None = None,
    *,
    repeat: int = 0,
    fold: int = 0,
) -> pd.Series:
    """The expression each image shows to the run's losses, from its label source ("" unknown); ``detected``
    is the labels stage's table where the source needs it."""
    source = label_params["source"]
    if source == NO_LABELS:
        return pd.Series("", index=manifest["image_id"])
    if source not in SHUFFLED_SOURCES:
        return source_expressions(manifest, label_params, detected)
    base = source_expressions(manifest, {**label_params, "source": label_params["shuffle_source"]}, detected)
    train_ids = folds.loc[_in_unit(folds, repeat, fold) & (folds["split"] == "train"), "image_id"]
    if source == SHUFFLED_ACROSS:
        return shuffled_expressions(base, train_ids.astype(str).tolist(), repeat=repeat, fold=fold)
    table = manifest.set_index(manifest["image_id"].astype(str))
    sessions = table["session"].fillna("").astype(str) if "session" in table else None
    identities = table["identity"].astype(str)
    return shuffled_expressions(
        base, train_ids.astype(str).tolist(), repeat=repeat, fold=fold, identities=identities, sessions=sessions
    )


def load_fold(
    manifest_path,
    folds_path,
    fold: int,
    input_size: int,
    *,
    label_params: dict,
    detected_path: str | None = None,
    splits=("train", "val", "test"),
    repeat: int = 0,
    batch_labels: dict | None = None,
    head_features: str | None = None,
    pixels: tuple[str, str] | None = None,
    dlib_chips: str | None = None,
    dlib_activations: str | None = None,
) -> dict[str, FaceSet]:
    """The requested splits of one fold as in-memory face sets, with the run's label source.

    ``batch_labels`` (a manual or detected source, or None) gives every face set the expressions that shape
    training batches: the same for every run of a study, whatever its own label source. ``head_features`` (a
    features stage file) replaces each face's image by its cached descriptor: the head backbone's input.
    ``pixels`` (the face_pixels rule's array and record) gives the images from the memory-mapped cache, checked
    against ``manifest_path`` and ``input_size``, instead of decoding every crop. ``dlib_activations`` (a
    fine-tuned dlib network below ``all``: its level's activation cache, checked against ``dlib_chips`` when given)
    or else ``dlib_chips`` (``all``) gives each face's rows there.
    """
    manifest = read_table(manifest_path)
    folds = read_table(folds_path)
    detected = read_table(detected_path) if detected_path else None
    expressions = run_expressions(manifest, label_params, detected, folds, repeat=repeat, fold=fold)
    if batch_labels is not None:
        batch = source_expressions(manifest, batch_labels, detected)
    descriptors = load_features(head_features) if head_features is not None else None  # once for every split
    cache = PixelCache(*pixels, manifest_path, input_size) if pixels is not None and descriptors is None else None
    cached = dlib_cache(dlib_chips, dlib_activations)
    faces = {}
    for split in splits:
        faces[split] = fold_faces(
            manifest,
            folds,
            fold,
            split,
            expressions,
            input_size,
            repeat=repeat,
            descriptors=descriptors,
            pixels=cache,
            cached=cached,
        )
        if batch_labels is not None:
            faces[split].batch_expressions = expression_codes(batch.reindex(faces[split].image_ids).fillna(""))
    return faces


def dlib_cache(chips_path: str | None, activations_path: str | None) -> Chips | Activations | None:
    """The cached activations (checked against the chips file when given), else the chips, else None."""
    if activations_path is not None:
        return load_activations(activations_path, chips_path=chips_path)
    return load_chips(chips_path) if chips_path is not None else None


def descriptor_rows(descriptors: Features, image_ids: list[str]) -> torch.Tensor:
    """The cached descriptors of ``image_ids`` (N x F float32), in that order."""
    vectors = descriptors.vectors(image_ids)
    return torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))


def load_rule_fold(inputs, run, input_size: int, label_params: dict, splits: tuple[str, ...], batch_labels=None):
    """`load_fold` of a run from a train or evaluate rule's inputs (manifest, folds and, where a label source
    needs it, detected; ``head_features`` where the network is a head on cached descriptors; ``dlib_chips`` and
    ``dlib_activations`` where it is a fine-tuned dlib network; ``pixels`` and ``pixels_record``, the pixel
    cache, where it reads images)."""
    return load_fold(
        inputs.manifest,
        inputs.folds,
        run.fold,
        input_size,
        label_params=label_params,
        detected_path=inputs.get("detected"),
        splits=splits,
        repeat=run.repeat,
        batch_labels=batch_labels,
        head_features=inputs.get("head_features"),
        pixels=(inputs.pixels, inputs.pixels_record) if inputs.get("pixels") else None,
        dlib_chips=inputs.get("dlib_chips"),
        dlib_activations=inputs.get("dlib_activations"),
    )


def dataset_expressions(manifest_path) -> set[str]:
    """The manual expression labels the whole dataset uses (empty when it has none)."""
    manifest = read_table(manifest_path)
    if "emotion_manual" not in manifest:
        return set()
    return set(manifest.loc[manifest["status"] == "ok", "emotion_manual"].astype(str)) - {""}
