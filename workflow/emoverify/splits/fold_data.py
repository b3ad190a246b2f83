"""Aligned faces of one fold, loaded into memory once, with integer identity and expression codes from the
run's label source."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from emoverify.faces.pixels import PixelCache, decode_crops
from emoverify.features.chips import Chips, load_chips
from emoverify.features.dlib_activations import Activations, load_activations
from emoverify.features.store import Features, load_features
from emoverify.labels.sources import LabelSource
from emoverify.vocabulary import EXPRESSIONS

SPLITS = ("train", "val", "test")


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
    # the expressions min_expression_images made unknown on this fold unit's training people (counted per fold)
    rare_expressions: tuple[str, ...] = ()

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
            self.rare_expressions,
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


def train_ids(folds: pd.DataFrame, repeat: int, fold: int) -> list[str]:
    """The training images of one fold unit."""
    return folds.loc[_in_unit(folds, repeat, fold) & (folds["split"] == "train"), "image_id"].astype(str).tolist()


@dataclass(frozen=True)
class FoldFiles:
    """The files one fold's faces are read from: the faces manifest and the folds table and, where the run
    needs them, the detected labels, a pretrained recognizer's cached descriptors (``head_features``: the head
    backbone's input), the pixel cache (the face_pixels rule's array and record), dlib's chips and a level's
    activation cache (a fine-tuned dlib network below ``all``)."""

    manifest: str
    folds: str
    detected: str | None = None
    head_features: str | None = None
    pixels: tuple[str, str] | None = None
    dlib_chips: str | None = None
    dlib_activations: str | None = None

    @classmethod
    def of_rule(cls, inputs) -> FoldFiles:
        """A train or evaluate rule's inputs (manifest, folds and, where the run reads them, detected,
        head_features, pixels with pixels_record, dlib_chips, dlib_activations)."""
        return cls(
            inputs.manifest,
            inputs.folds,
            detected=inputs.get("detected"),
            head_features=inputs.get("head_features"),
            pixels=(inputs.pixels, inputs.pixels_record) if inputs.get("pixels") else None,
            dlib_chips=inputs.get("dlib_chips"),
            dlib_activations=inputs.get("dlib_activations"),
        )


def load_fold(
    files: FoldFiles,
    fold: int,
    input_size: int,
    *,
    label_source: LabelSource,
    splits=("train", "val", "test"),
    repeat: int = 0,
    batch_label_source: LabelSource | None = None,
) -> dict[str, FaceSet]:
    """The requested splits of one fold as in-memory face sets, with the run's label source.

    ``batch_label_source`` (a manual or detected source, or None) gives every face set the expressions that shape
    training batches: the same for every run of a study, whatever its own label source. With ``files``'
    ``head_features`` each face's image is its cached descriptor: the head backbone's input. Its ``pixels`` give
    the images from the memory-mapped cache, checked against the manifest and ``input_size``, instead of decoding
    every crop. Its ``dlib_activations`` (checked against ``dlib_chips`` when given) or else ``dlib_chips``
    (``all``) give each face's rows there.
    """
    manifest = read_table(files.manifest)
    folds = read_table(files.folds)
    detected = read_table(files.detected) if files.detected else None
    training = train_ids(folds, repeat, fold)
    expressions = label_source.expressions(manifest, detected, training, repeat=repeat, fold=fold)
    # counted per fold, the expressions made unknown differ by fold: the run records them (``rare_expressions``)
    rare = tuple(label_source.rare_expressions(manifest, detected, training)) if label_source.counts_per_fold else ()
    if batch_label_source is not None:
        batch = batch_label_source.base_expressions(manifest, detected, training)
    descriptors = load_features(files.head_features) if files.head_features is not None else None  # once for all
    pixels = files.pixels
    cache = PixelCache(*pixels, files.manifest, input_size) if pixels is not None and descriptors is None else None
    cached = dlib_cache(files.dlib_chips, files.dlib_activations)
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
        faces[split].rare_expressions = rare
        if batch_label_source is not None:
            faces[split].batch_expressions = expression_codes(batch.reindex(faces[split].image_ids).fillna(""))
    return faces


def dlib_cache(chips_path: str | None, activations_path: str | None) -> Chips | Activations | None:
    """The cached activations (checked against the chips file when given), else the chips, else None.

    Read once per process while neither file changes: a unit job loads its fold once per label source, and
    each load would hash the chips and read the whole cache again (seconds on lfw_emotion) for the same rows.
    Callers only index it, which copies the rows they take."""
    if activations_path is None and chips_path is None:
        return None
    return _read_dlib_cache(chips_path, activations_path, _signature(chips_path), _signature(activations_path))


@functools.lru_cache(maxsize=1)
def _read_dlib_cache(chips_path, activations_path, *signatures) -> Chips | Activations:
    if activations_path is not None:
        return load_activations(activations_path, chips_path=chips_path)
    return load_chips(chips_path)


def _signature(path) -> tuple | None:
    """What changes when a file is replaced or rewritten (the content-hash cache's key, data.integrity)."""
    if path is None:
        return None
    stat = os.stat(path)
    return (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)


def descriptor_rows(descriptors: Features, image_ids: list[str]) -> torch.Tensor:
    """The cached descriptors of ``image_ids`` (N x F float32), in that order."""
    vectors = descriptors.vectors(image_ids)
    return torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))


def load_rule_fold(
    inputs, run, input_size: int, label_params: dict, splits: tuple[str, ...], batch_label_params: dict | None = None
):
    """`load_fold` of a run from a train or evaluate rule's inputs (manifest, folds and, where a label source
    needs it, detected; ``head_features`` where the network is a head on cached descriptors; ``dlib_chips`` and
    ``dlib_activations`` where it is a fine-tuned dlib network; ``pixels`` and ``pixels_record``, the pixel
    cache, where it reads images) and its params: the run's and the batches' label sources as
    `LabelSource.to_params` dicts."""
    return load_fold(
        FoldFiles.of_rule(inputs),
        run.fold,
        input_size,
        label_source=LabelSource.from_params(label_params),
        splits=splits,
        repeat=run.repeat,
        batch_label_source=None if batch_label_params is None else LabelSource.from_params(batch_label_params),
    )


def dataset_expressions(manifest_path) -> set[str]:
    """The manual expression labels the whole dataset uses (empty when it has none)."""
    manifest = read_table(manifest_path)
    if "emotion_manual" not in manifest:
        return set()
    return set(manifest.loc[manifest["status"] == "ok", "emotion_manual"].astype(str)) - {""}
