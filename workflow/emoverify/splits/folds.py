"""Identity-disjoint cross-validation folds for face verification.

Every identity with at least two usable faces ("eligible": it can form a
positive pair) is in the test split of exactly one fold. Within each fold a
validation set of eligible identities is held out of training (early stopping,
threshold choice); everything else trains. Identities with a single usable face
never enter test or validation; they train in every fold, with the reason in
the ``note`` column.

Fold assignment is a seeded randomised greedy ("list scheduling"): identities
are taken in a seeded random order and each goes to the fold with the fewest
test images so far. This bounds the spread of test images between folds by the
size of the largest identity; several seeded candidates are drawn and the most
balanced one is kept, so the balance is usually much better than the bound
while another seed still gives other folds.

A development partition (``development_fraction`` of the eligible identities,
drawn with ``development_seed`` before any fold) is held apart: its people are
in no fold's train, validation or test split (split ``development`` in every
unit) and serve only the choices made above the fold (recipe, tuning grids),
which train inner folds of those people alone (``partition="development"``).
The draw (``development_partition``) is ``sorted``, a seeded sample of the sorted
list of eligible people (one person more or fewer moves many others), or
``hash``, each person in when a hash of (seed, name) falls below the fraction:
a person gaining or losing faces moves nobody else.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from emoverify.registry import DEVELOPMENT, DEVELOPMENT_DRAWS, HASH_DRAW, PARTITIONS, SORTED_DRAW

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEVELOPMENT_NOTE = "development partition: only choices made above the fold read these people"
MIN_DEVELOPMENT_IDENTITIES = 4  # inner folds need two test and two training people
DEVELOPMENT_SALT = 7_231_019  # keeps the development draw apart from the fold seeds
SINGLE_FACE_NOTE = "one usable face: train only (cannot form a positive pair)"
NO_VAL_NOTE = "too few identities left outside the test split for validation (it needs two, and two to train)"
CANDIDATE_ASSIGNMENTS = 32
MIN_TEST_IDENTITIES = 2  # a test split needs negative pairs
MIN_TRAIN_IDENTITIES = 2  # an identity loss needs two people


class SplitError(ValueError):
    """The faces cannot be split into the requested identity-disjoint folds."""


def make_folds(table: pd.DataFrame, *, n_folds: int, seed: int, val_fraction: float = 0.2) -> pd.DataFrame:
    """Assign every usable image to train/val/test in each of ``n_folds`` folds.

    ``table`` needs ``image_id`` and ``identity``; when it has a ``status``
    column only rows with ``status == "ok"`` are used (the others already carry
    their reason in the faces manifest). Returns one row per (image, fold) with
    columns ``image_id, identity, fold, split, note``; folds are numbered from
    0. ``val_fraction`` is the share of the non-test eligible identities held
    out for validation in each fold: at least two identities, so validation
    has negative pairs, and only when at least two eligible identities are left
    to train on; with fewer than four candidates there is no validation (noted).
    Raises SplitError when the folds cannot be formed.
    """
    _check_parameters(n_folds, val_fraction)
    usable = _usable_rows(table)
    sizes = usable.groupby("identity", sort=False).size()
    eligible = _eligible_identities(sizes, n_folds)
    rng = np.random.default_rng(seed)
    test_fold = _assign_test_folds(eligible, sizes, n_folds, rng)
    rows = [_fold_rows(usable, sizes, test_fold, fold, val_fraction, rng) for fold in range(n_folds)]
    return pd.concat(rows, ignore_index=True)


def make_repeated_folds(
    table: pd.DataFrame,
    *,
    n_folds: int,
    repeats: int,
    seed: int,
    val_fraction: float = 0.2,
    development_fraction: float = 0.0,
    development_seed: int = 0,
    partition: str = "study",
    development_partition: str = SORTED_DRAW,
) -> pd.DataFrame:
    """Repeated cross-validation: ``repeats`` independent fold assignments (repeat r uses seed ``seed + r``,
    so repeat 0 is the single assignment of ``make_folds``), stacked with a ``repeat`` column.

    The development people (``development_identities``, drawn as ``development_partition`` says) are held apart
    first. With ``partition="study"`` the
    folds are drawn from everyone else and the development people are listed in every unit with split
    ``development``; with ``partition="development"`` the folds are drawn from the development
    people alone and nobody else is listed: inner folds of a choice made above the fold, where each fold's
    held-out people are its validation people (no test split: nothing there is scored) and the others train.
    """
    if repeats < 1:
        raise SplitError(f"repeats must be at least 1, got {repeats}")
    if partition not in PARTITIONS:
        raise SplitError(f"partition must be one of {PARTITIONS}, got {partition!r}")
    development = set(
        development_identities(table, fraction=development_fraction, seed=development_seed, draw=development_partition)
    )
    if partition == DEVELOPMENT and not development:
        raise SplitError("partition development needs development people: set development_fraction above 0")
    in_development = table["identity"].astype(str).isin(development) if development else None
    drawn = table
    if in_development is not None:
        drawn = table[in_development] if partition == DEVELOPMENT else table[~in_development]
    stacked = []
    for repeat in range(repeats):
        if partition == DEVELOPMENT:  # inner folds: each fold's held-out people validate, the others train
            folds = make_folds(drawn, n_folds=n_folds, seed=seed + repeat, val_fraction=0.0)
            folds["split"] = folds["split"].replace({"test": "val"})
        else:
            folds = make_folds(drawn, n_folds=n_folds, seed=seed + repeat, val_fraction=val_fraction)
        stacked.append(folds.assign(repeat=repeat))
        if partition == "study" and development:
            stacked += [_development_rows(table, development, repeat, fold) for fold in range(n_folds)]
    return pd.concat(stacked, ignore_index=True)


def development_size(n_eligible: int, fraction: float) -> int:
    """How many of ``n_eligible`` identities (two usable faces or more) the development partition takes."""
    if not 0 <= fraction < 1:
        raise SplitError(f"development_fraction must be in [0, 1), got {fraction!r}")
    return round(fraction * n_eligible)


def development_draw(eligible, *, fraction: float, seed: int, draw: str = SORTED_DRAW) -> list[str]:
    """The development people among ``eligible`` (names of the identities with two usable faces), sorted.

    ``sorted``: ``round(fraction * n)`` people sampled with ``seed`` from the sorted list, so one person more or
    fewer reindexes the list and moves others. ``hash``: a person is in when the hash of (seed, name) falls below
    ``fraction``, decided for each person alone, so one person more or fewer moves nobody else (the count is then
    about, not exactly, ``fraction * n``)."""
    eligible = sorted(map(str, eligible))
    n_development = development_size(len(eligible), fraction)  # checks the fraction
    if draw == HASH_DRAW:
        return [person for person in eligible if hash_position(seed, person) < fraction]
    if draw != SORTED_DRAW:
        raise SplitError(f"development_partition must be one of {DEVELOPMENT_DRAWS}, got {draw!r}")
    if n_development == 0:
        return []
    rng = np.random.default_rng([DEVELOPMENT_SALT, seed])
    chosen = rng.choice(len(eligible), size=n_development, replace=False)
    return sorted(eligible[i] for i in chosen)


def hash_position(seed: int, identity: str) -> float:
    """Where (seed, identity) falls in [0, 1): the first 8 bytes of their sha256, the same on every machine and
    Python (the built-in hash() is salted per process)."""
    digest = hashlib.sha256(f"{int(seed)}\0{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def development_identities(table: pd.DataFrame, *, fraction: float, seed: int, draw: str = SORTED_DRAW) -> list[str]:
    """The development people: ``fraction`` of the identities with two usable faces, drawn with ``seed``
    (independent of the fold seeds) as ``draw`` says (``development_draw``), sorted. Empty when none is drawn."""
    usable = _usable_rows(table)
    sizes = usable.groupby("identity", sort=False).size()
    eligible = sizes.index[sizes >= 2]
    development = development_draw(eligible, fraction=fraction, seed=seed, draw=draw)
    # a hash draw of none is no "fraction too small to round to one person": say so rather than set none aside
    too_few = 0 < len(development) or (draw == HASH_DRAW and fraction > 0)
    if too_few and len(development) < MIN_DEVELOPMENT_IDENTITIES:
        raise SplitError(
            f"development_fraction {fraction} sets aside {len(development)} of {len(eligible)} identities "
            f"(development_partition {draw}, development_seed {seed}); inner folds need at least "
            f"{MIN_DEVELOPMENT_IDENTITIES}: raise development_fraction or set it to 0 (and take the recipe chosen on "
            "another dataset's development people)"
        )
    return development


def outside_development(table: pd.DataFrame, *, fraction: float, seed: int, draw: str = SORTED_DRAW) -> pd.DataFrame:
    """The rows of ``table`` whose identity is not a development person: what a study-wide table may count."""
    development = set(development_identities(table, fraction=fraction, seed=seed, draw=draw))
    return table[~table["identity"].astype(str).isin(development)] if development else table


def _development_rows(table: pd.DataFrame, development: set, repeat: int, fold: int) -> pd.DataFrame:
    usable = _usable_rows(table)
    rows = usable[usable["identity"].astype(str).isin(development)].copy()
    return rows.assign(fold=fold, split=DEVELOPMENT, note=DEVELOPMENT_NOTE, repeat=repeat)


def split_summary(folds: pd.DataFrame) -> pd.DataFrame:
    """Count identities and images per (repeat, fold, split), including empty splits."""
    if "repeat" not in folds:
        folds = folds.assign(repeat=0)
    keys = ["repeat", "fold", "split"]
    counts = folds.groupby(keys).agg(n_identities=("identity", "nunique"), n_images=("image_id", "size"))
    units = folds[["repeat", "fold"]].drop_duplicates().sort_values(["repeat", "fold"]).itertuples(index=False)
    splits = SPLITS + ((DEVELOPMENT,) if (folds["split"] == DEVELOPMENT).any() else ())
    full_index = pd.MultiIndex.from_tuples([(r, f, s) for r, f in units for s in splits], names=keys)
    return counts.reindex(full_index, fill_value=0).reset_index()


def held_out_share(folds: pd.DataFrame, held_out: str = "test") -> float:
    """Mean over the (repeat, fold) units of held-out images / images used for fitting (train and validation,
    but for the held-out split): the n2/n1 of the corrected resampled t-test (Nadeau and Bengio 2003). A
    development partition's inner folds hold out their validation people (``held_out="val"``)."""
    summary = split_summary(folds)
    images = summary.pivot_table(index=["repeat", "fold"], columns="split", values="n_images", fill_value=0)
    fitting = sum(images.get(split, 0) for split in ("train", "val") if split != held_out)
    return float((images[held_out] / fitting).mean())


def summary_line(summary: pd.DataFrame, summary_path) -> str:
    """One console line: folds (and repeats), and test / validation / training identities per fold."""
    counts = {split: "/".join(map(str, summary[summary["split"] == split]["n_identities"])) for split in SPLITS}
    units = summary.drop_duplicates([c for c in ("repeat", "fold") if c in summary.columns])
    repeats = summary["repeat"].nunique() if "repeat" in summary.columns else 1
    folds = f"{summary['fold'].nunique()} folds" + (f" x {repeats} repeats" if repeats > 1 else "")
    development = summary.loc[summary["split"] == DEVELOPMENT, "n_identities"]
    aside = f", development (in no fold) {int(development.iloc[0])}" if len(development) else ""
    return (
        f"splits: {folds} ({len(units)} units), identities per fold: test {counts['test']}, validation "
        f"{counts['val']}, training {counts['train']}{aside}; see {summary_path}"
    )


def _check_parameters(n_folds: int, val_fraction: float) -> None:
    if int(n_folds) != n_folds or n_folds < 2:
        raise SplitError(f"folds must be an integer >= 2, got {n_folds!r}; set the config key folds")
    if not 0 <= val_fraction < 1:
        raise SplitError(f"val_fraction must be in [0, 1), got {val_fraction!r}")


def _usable_rows(table: pd.DataFrame) -> pd.DataFrame:
    missing = {"image_id", "identity"} - set(table.columns)
    if missing:
        raise SplitError(f"the faces table lacks column(s) {sorted(missing)}; expected image_id, identity[, status]")
    usable = table if "status" not in table.columns else table[table["status"] == "ok"]
    usable = usable[["image_id", "identity"]].reset_index(drop=True)
    if usable.empty:
        raise SplitError("no usable faces (no row with status == 'ok'); check the faces stage's manifest")
    unnamed = usable["identity"].isna() | (usable["identity"].astype(str).str.strip() == "")
    if unnamed.any():
        examples = ", ".join(map(str, usable.loc[unnamed, "image_id"].head(5)))
        raise SplitError(
            f"{int(unnamed.sum())} usable face(s) have no identity (e.g. {examples}); fix the dataset labels"
        )
    duplicated = usable["image_id"].duplicated()
    if duplicated.any():
        examples = ", ".join(map(str, usable.loc[duplicated, "image_id"].head(5)))
        raise SplitError(f"image_id must be unique; repeated: {examples}")
    return usable


def _eligible_identities(sizes: pd.Series, n_folds: int) -> list:
    if len(sizes) == 1:
        raise SplitError(f"the dataset has a single identity ({sizes.index[0]!r}); verification needs several people")
    eligible = sorted(sizes.index[sizes >= 2], key=str)
    if not eligible:
        raise SplitError(
            "nobody has two usable faces, so no positive pair can be formed; "
            "add images per identity or check the faces stage's rejections"
        )
    problem = fold_count_problem(len(eligible), len(sizes), n_folds)
    if problem:
        raise SplitError(problem)
    return eligible


def largest_supported_folds(n_eligible: int, n_identities: int) -> int:
    """The most folds that give every fold two test identities and leave two identities to train on
    (0 when not even two folds can): each test split needs a negative pair, training needs two people."""
    for n_folds in range(n_eligible // MIN_TEST_IDENTITIES, 1, -1):
        if n_identities - math.ceil(n_eligible / n_folds) >= MIN_TRAIN_IDENTITIES:
            return n_folds
    return 0


def fold_count_problem(n_eligible: int, n_identities: int, n_folds: int) -> str | None:
    """Why ``n_folds`` folds cannot support a study of these identities (``n_eligible`` of the ``n_identities``
    have two usable faces), or None. The message names the largest ``folds`` that works, or what to add."""
    if n_folds <= largest_supported_folds(n_eligible, n_identities):
        return None
    have = (
        f"{n_eligible} of the {n_identities} identities have two or more usable faces; folds={n_folds} leaves a "
        f"fold with fewer than {MIN_TEST_IDENTITIES} test identities or fewer than {MIN_TRAIN_IDENTITIES} "
        "identities to train on"
    )
    largest = largest_supported_folds(n_eligible, n_identities)
    if largest >= 2:
        return f"{have}; set folds to at most {largest} (the config key folds)"
    return (
        f"{have}; even folds=2 cannot: a study needs at least {2 * MIN_TEST_IDENTITIES} identities with two usable "
        "faces (add people, or check the faces stage's rejections)"
    )


def _assign_test_folds(eligible: list, sizes: pd.Series, n_folds: int, rng: np.random.Generator) -> dict:
    """Return {identity: fold} of the most image-balanced of several seeded greedy assignments, preferring
    those where every fold has two test identities and leaves two identities to train on."""
    best, best_key = None, None
    for _ in range(CANDIDATE_ASSIGNMENTS):
        candidate, totals = _greedy_assignment(eligible, sizes, n_folds, rng)
        key = (not _supports_study(candidate, len(sizes), n_folds), totals.max() - totals.min())
        if best_key is None or key < best_key:
            best, best_key = candidate, key
    if best_key[0]:
        raise SplitError(
            f"no assignment of these {len(eligible)} identities to {n_folds} folds gives every fold "
            f"{MIN_TEST_IDENTITIES} test identities and {MIN_TRAIN_IDENTITIES} to train on (their image counts are "
            f"too uneven); lower folds (the config key folds) to {max(n_folds - 1, 2)} or add people"
        )
    return best


def _supports_study(assignment: dict, n_identities: int, n_folds: int) -> bool:
    per_fold = np.bincount(list(assignment.values()), minlength=n_folds)
    return bool(per_fold.min() >= MIN_TEST_IDENTITIES and n_identities - per_fold.max() >= MIN_TRAIN_IDENTITIES)


def _greedy_assignment(eligible: list, sizes: pd.Series, n_folds: int, rng: np.random.Generator):
    totals = np.zeros(n_folds, dtype=int)
    assignment = {}
    for position in rng.permutation(len(eligible)):
        identity = eligible[position]
        lightest = np.flatnonzero(totals == totals.min())
        fold = int(rng.choice(lightest))
        assignment[identity] = fold
        totals[fold] += int(sizes[identity])
    return assignment, totals


def _validation_size(n_candidates: int, val_fraction: float) -> int:
    """Two people at least (one alone gives no negative pairs), and two left to train on."""
    if val_fraction == 0 or n_candidates < 4:
        return 0
    return min(max(round(val_fraction * n_candidates), 2), n_candidates - 2)


def _fold_rows(usable, sizes, test_fold: dict, fold: int, val_fraction: float, rng) -> pd.DataFrame:
    candidates = sorted((i for i, f in test_fold.items() if f != fold), key=str)
    n_val = _validation_size(len(candidates), val_fraction)
    validation = set(rng.choice(np.array(candidates, dtype=object), size=n_val, replace=False)) if n_val else set()
    split = {identity: "train" for identity in sizes.index}
    split.update({identity: "val" for identity in validation})
    split.update({identity: "test" for identity, f in test_fold.items() if f == fold})
    note = {identity: SINGLE_FACE_NOTE for identity in sizes.index[sizes < 2]}
    if val_fraction > 0 and n_val == 0:
        note.update({identity: NO_VAL_NOTE for identity in candidates})
    out = usable.copy()
    out["fold"] = fold
    out["split"] = out["identity"].map(split)
    out["note"] = [note.get(identity, "") for identity in out["identity"]]
    return out
