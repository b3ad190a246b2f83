"""Every label source's meaning: one expression per image for a run's losses, from manual or detected labels,
a shuffled control of either, or none.

Downstream stages never look at where a label came from: they receive one canonical expression name per image,
``""`` when unknown. An image whose detected label falls below the confidence threshold is unknown for the
expression losses but still serves the identity loss. The study plan builds one `LabelSource` per source from
the config; rules carry it as `LabelSource.to_params` and scripts rebuild it with `LabelSource.from_params`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from emoverify.registry import (
    ALL_PEOPLE,
    DETECTED,
    EXPRESSION_LABEL_SOURCES,
    NO_LABELS,
    SHUFFLED_ACROSS,
    SHUFFLED_SOURCES,
    TRAINING_PEOPLE,
)
from emoverify.vocabulary import canonical_expression

BELOW_THRESHOLD = "below_threshold"
SHUFFLE_SEED = 20210305  # the shuffled-label control's seed, fixed for every study


class LabelSourceError(ValueError):
    """The requested label source is not available for this dataset or configuration."""


@dataclass(frozen=True)
class LabelSource:
    """The source of a run's expression labels and what it reads.

    ``name`` is one of registry.LABEL_SOURCES; ``shuffle_base`` the manual or detected source a shuffled control
    permutes (None for any other); ``confidence_threshold`` the detected labels' threshold where detected labels
    enter (None where they do not); ``min_expression_images`` the fewest usable faces an expression must show on
    to stay known (0 or 1: every expression stays), counted on every person's faces (``min_expression_images_on``
    ``all``) or on the training faces of each fold unit (``training``: no validation, test or development person's
    label counts, and each fold unit has its own known expressions).
    """

    name: str
    shuffle_base: str | None = None
    confidence_threshold: float | None = None
    min_expression_images: int = 0
    min_expression_images_on: str = ALL_PEOPLE

    @classmethod
    def from_config(cls, labels: dict, name: str) -> LabelSource:
        """The source ``name`` with the config's ``labels`` section: a threshold only where detected labels
        enter, the minimum only for a source with labels, so a change of either reruns only the runs it
        reaches."""
        shuffle_base = labels["shuffle_source"] if name in SHUFFLED_SOURCES else None
        threshold = labels["confidence_threshold"] if DETECTED in (name, shuffle_base) else None
        min_images = labels.get("min_expression_images", 0)
        if name == NO_LABELS or min_images <= 1:
            return cls(name, shuffle_base, threshold)
        return cls(name, shuffle_base, threshold, min_images, labels.get("min_expression_images_on", ALL_PEOPLE))

    @classmethod
    def from_params(cls, params: dict) -> LabelSource:
        """The source a rule's parameter (`to_params`) describes."""
        unknown = set(params) - {field.name for field in fields(cls)}
        if unknown or "name" not in params:
            raise LabelSourceError(
                f"a label source's rule parameter needs 'name' and only {[field.name for field in fields(cls)]}, "
                f"got {sorted(params)}; rebuild it with LabelSource.to_params"
            )
        return cls(**params)

    def to_params(self) -> dict:
        """A plain dict for a rule's params, without the fields left at their defaults (a study that does not
        use one plans the same jobs as before it existed)."""
        defaults = LabelSource(self.name)
        return {key: value for key, value in asdict(self).items() if key == "name" or value != getattr(defaults, key)}

    @property
    def reads(self) -> set[str]:
        """The manual or detected labels the source reads (none for ``none``)."""
        return {self.shuffle_base or self.name} - {NO_LABELS}

    @property
    def counts_per_fold(self) -> bool:
        """Whether the expressions made unknown are counted on each fold unit's training faces (so differ by
        fold) rather than once on every person's."""
        return self.min_expression_images > 1 and self.min_expression_images_on == TRAINING_PEOPLE

    def base_expressions(self, manifest: pd.DataFrame, detected: pd.DataFrame | None, train_ids=None) -> pd.Series:
        """The manual or detected expression of every image ("" unknown), before any shuffle; the
        ``rare_expressions`` made unknown (``train_ids``: the fold unit's training images, which ``training``
        counting needs)."""
        labels = resolve_expressions(
            manifest, detected, self.shuffle_base or self.name, self.confidence_threshold or 0.0
        )
        if self.min_expression_images <= 1:
            return labels
        usable = _usable_ids(manifest)
        rare = self._rare(labels, usable, train_ids)
        kept = labels.loc[usable]
        return kept.where(~kept.isin(rare), "").reindex(labels.index, fill_value="")

    def rare_expressions(self, manifest: pd.DataFrame, detected: pd.DataFrame | None, train_ids=None) -> list[str]:
        """The expressions made unknown: carried by fewer than ``min_expression_images`` usable faces, counted on
        every person's (``all``) or on the training images ``train_ids`` of one fold unit (``training``)."""
        if self.min_expression_images <= 1 or self.name == NO_LABELS:
            return []
        labels = resolve_expressions(
            manifest, detected, self.shuffle_base or self.name, self.confidence_threshold or 0.0
        )
        return self._rare(labels, _usable_ids(manifest), train_ids)

    def _rare(self, labels: pd.Series, usable: list[str], train_ids) -> list[str]:
        counted = usable
        if self.min_expression_images_on == TRAINING_PEOPLE:
            if train_ids is None:
                raise LabelSourceError(
                    f"the label source {self.name!r} counts min_expression_images on a fold's training people "
                    "(labels.min_expression_images_on: training): pass train_ids"
                )
            training = {str(image) for image in train_ids}
            counted = [image for image in usable if image in training]
        elif self.min_expression_images_on != ALL_PEOPLE:
            raise LabelSourceError(
                f"labels.min_expression_images_on must be {ALL_PEOPLE} or {TRAINING_PEOPLE}, got "
                f"{self.min_expression_images_on!r}"
            )
        shown = labels.loc[usable]  # an expression no counted face carries is rare too (counted 0 times)
        return rare_labels(labels.loc[counted], self.min_expression_images, among=shown[shown != ""].unique())

    def expressions(
        self, manifest: pd.DataFrame, detected: pd.DataFrame | None, train_ids=None, *, repeat: int = 0, fold: int = 0
    ) -> pd.Series:
        """The expression each image shows to a run's losses ("" unknown), indexed by image_id; ``detected`` is
        the labels stage's table where the source reads it, and a shuffled control permutes the labels of
        ``train_ids``, the training images of fold ``fold`` of repeat ``repeat``."""
        if self.name == NO_LABELS:
            return pd.Series("", index=manifest["image_id"])
        base = self.base_expressions(manifest, detected, train_ids)
        if self.name not in SHUFFLED_SOURCES:
            return base
        if train_ids is None:
            raise LabelSourceError(f"the label source {self.name!r} shuffles a fold's training labels: pass train_ids")
        train_ids = [str(image) for image in train_ids]
        if self.name == SHUFFLED_ACROSS:
            return shuffled_expressions(base, train_ids, repeat=repeat, fold=fold)
        table = manifest.set_index(manifest["image_id"].astype(str))
        sessions = table["session"].fillna("").astype(str) if "session" in table else None
        identities = table["identity"].astype(str)
        return shuffled_expressions(base, train_ids, repeat=repeat, fold=fold, identities=identities, sessions=sessions)


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
    for blocks in session_blocks(known, dict(identities), None if sessions is None else dict(sessions)):
        order = rng.permutation(len(blocks))
        for block, origin in zip(blocks, order):
            moved.update(zip(block, (label[image] for image in blocks[origin])))
    if moved:
        shuffled.loc[list(moved)] = list(moved.values())
    return shuffled


def session_blocks(known: list[str], identities, sessions) -> list[list[list[str]]]:
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


def apply_threshold(detected: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Return a copy of ``detected`` whose low-confidence labels are unknown.

    Rows classified with ``confidence < threshold`` get ``emotion_detected = ""``
    and ``detect_status = "below_threshold"``; their probabilities are kept.
    ``detected`` needs ``image_id, emotion_detected, confidence``; a missing
    ``detect_status`` is derived (``ok`` where a label exists).
    """
    _check_threshold(threshold)
    table = normalise_detected(detected)
    below = (table["detect_status"] == "ok") & (table["confidence"] < threshold)
    table.loc[below, "emotion_detected"] = ""
    table.loc[below, "detect_status"] = BELOW_THRESHOLD
    return table


def resolve_expressions(
    manifest: pd.DataFrame, detected: pd.DataFrame | None, label_source: str, threshold: float = 0.0
) -> pd.Series:
    """Return the expression of each manifest image for a manual or detected label source.

    The result is indexed by ``image_id``, named ``emotion``, and holds
    canonical names or ``""`` (unknown). ``label_source`` is ``manual`` (the
    manifest's ``emotion_manual``) or ``detected`` (fer's labels, ``""`` below
    ``threshold`` and for faces that were not classified). Raises
    LabelSourceError when the source cannot serve this dataset.
    """
    if label_source not in EXPRESSION_LABEL_SOURCES:
        raise LabelSourceError(
            f"unknown label source {label_source!r}; label_sources may contain {', '.join(EXPRESSION_LABEL_SOURCES)}"
        )
    if label_source == "manual":
        labels = _manual_labels(manifest)
    else:
        labels = _detected_labels(manifest, detected, threshold)
    return labels.rename("emotion")


def rare_labels(labels: pd.Series, min_images: int, among=None) -> list[str]:
    """The expressions (of ``labels``, or of ``among`` where given) that fewer than ``min_images`` of ``labels``
    carry (none below 2), sorted.

    A class seen on a handful of images gives the expression losses a few pairs of mostly noise (crowd labels
    in the wild). Counted over the dataset (``all``) every fold and label source keeps one vocabulary; counted on
    a fold's training images (``training``) no validation or test person's label decides what a run learns.
    """
    if min_images <= 1:
        return []
    counts = labels[labels != ""].value_counts()
    if among is not None:
        counts = counts.reindex(among, fill_value=0)
    return sorted(map(str, counts.index[counts < min_images]))


def _usable_ids(manifest: pd.DataFrame) -> list[str]:
    usable = manifest.loc[manifest["status"] == "ok", "image_id"] if "status" in manifest else manifest["image_id"]
    return usable.astype(str).tolist()


def manual_expressions(manifest: pd.DataFrame) -> pd.Series:
    """Canonical manual labels indexed by ``image_id`` (``""`` where the dataset has none)."""
    if "emotion_manual" not in manifest.columns:
        return pd.Series("", index=pd.Index(manifest["image_id"], name="image_id"), dtype=object)
    names = manifest["emotion_manual"].fillna("").map(canonical_expression)
    return pd.Series(names.to_numpy(dtype=object), index=pd.Index(manifest["image_id"], name="image_id"))


def _manual_labels(manifest: pd.DataFrame) -> pd.Series:
    labels = manual_expressions(manifest)
    if (labels == "").all():
        raise LabelSourceError(
            "label source 'manual' was requested but this dataset has no manual expression labels "
            "(emotion_manual is empty for every image); set label_sources: [detected] to use fer's labels"
        )
    return labels


def _detected_labels(manifest: pd.DataFrame, detected: pd.DataFrame | None, threshold: float) -> pd.Series:
    if detected is None:
        raise LabelSourceError(
            "label source 'detected' was requested but no detected-label table was given; "
            "run the labels stage first (results/<experiment>/labels/detected.csv)"
        )
    table = apply_threshold(detected, threshold).set_index("image_id")
    usable = (
        manifest.loc[manifest["status"] == "ok", "image_id"] if "status" in manifest.columns else manifest["image_id"]
    )
    absent = usable[~usable.isin(table.index)]
    if len(absent):
        raise LabelSourceError(
            f"the detected-label table lacks {len(absent)} usable image(s) of the manifest "
            f"(e.g. {', '.join(map(str, absent.head(3)))}); rerun the labels stage on this manifest"
        )
    labels = table["emotion_detected"].reindex(manifest["image_id"]).fillna("")
    return pd.Series(labels.to_numpy(dtype=object), index=pd.Index(manifest["image_id"], name="image_id"))


def _check_threshold(threshold: float) -> None:
    if not 0 <= threshold <= 1:
        raise LabelSourceError(f"the confidence threshold must be between 0 and 1, got {threshold!r}")


def normalise_detected(detected: pd.DataFrame) -> pd.DataFrame:
    """Check a detected-label table and return a copy with canonical labels and a ``detect_status`` column."""
    missing = {"image_id", "emotion_detected", "confidence"} - set(detected.columns)
    if missing:
        raise LabelSourceError(
            f"the detected-label table lacks column(s) {sorted(missing)}; expected the labels stage's detected.csv"
        )
    table = detected.copy()
    table["emotion_detected"] = table["emotion_detected"].fillna("").astype(object).map(canonical_expression)
    # read with keep_default_na=False, unclassified rows hold "" instead of NaN
    table["confidence"] = pd.to_numeric(table["confidence"], errors="coerce")
    if "detect_status" not in table.columns:
        table["detect_status"] = (table["emotion_detected"] != "").map({True: "ok", False: "not classified"})
    return table
