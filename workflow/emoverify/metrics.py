"""Face-verification metrics on test embeddings: pure functions, arrays in, numbers out.

Scores are similarities (higher = more likely the same person): cosine similarity on
the sphere, negative Euclidean distance otherwise. Pairs are all unordered pairs
i < j of the given images, enumerated with the upper triangle of the score matrix
(2,000 images = 2 million pairs, a few tens of MB).

Same-session positives. Datasets such as CK+ film a person in one session, and
frames of one sequence are near-duplicates; a positive pair of two such frames
says little about verification. When ``sessions`` is given, positive pairs whose
two images share a known session are left out of the evaluated pairs (not turned
into negatives). An empty session string means "unknown" and never excludes a
pair. The ``*_all_pairs`` metrics keep those positives, for comparison.

ROC, AUC: ``roc_curve`` and the trapezoid area below, numpy versions of scikit-learn's ``roc_curve``
(``drop_intermediate=False``) and ``auc``, checked against it in the tests; scikit-learn itself costs a job
more than a second to import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = ("cosine", "euclidean")
FAR_LEVELS = {"tar_at_far_1e-1": 1e-1, "tar_at_far_1e-2": 1e-2}
VALIDATION_FIGURES = ("auc", *FAR_LEVELS)  # what early stopping watches and tuning ranks candidates by


def history_column(figure: str) -> str:
    """The history.csv column of a validation figure (``val_auc``, ``val_tar_at_far_1e-2``, ...)."""
    if figure not in VALIDATION_FIGURES:
        raise ValueError(f"unknown validation figure {figure!r}; choose one of {', '.join(VALIDATION_FIGURES)}")
    return f"val_{figure}"


class MetricsInputError(ValueError):
    """Embeddings or labels that cannot be evaluated as given (the message says how to fix them)."""


@dataclass(frozen=True)
class Pairs:
    """All unordered pairs i < j with their score and labels.

    ``same`` marks pairs of one identity, ``same_session`` pairs whose two images
    share a known (non-empty) session; ``same_expression``/``cross_expression``
    are meaningful only where both expressions are known (code >= 0).
    """

    score: np.ndarray
    same: np.ndarray
    same_session: np.ndarray
    same_expression: np.ndarray
    cross_expression: np.ndarray

    def evaluated(self, exclude_same_session: bool) -> np.ndarray:
        """Mask of the pairs that enter the metrics."""
        if not exclude_same_session:
            return np.ones_like(self.same)
        return ~(self.same & self.same_session)


# ---------------------------------------------------------------- input checks


def _as_embeddings(emb) -> np.ndarray:
    array = np.asarray(emb, dtype=np.float64)
    if array.ndim != 2:
        raise MetricsInputError(f"embeddings must be a 2-D array (images x dimensions), got shape {array.shape}")
    if array.shape[0] < 2:
        raise MetricsInputError(f"need at least 2 embeddings to form a pair, got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise MetricsInputError(
            "embeddings contain NaN or infinite values; check the model output (diverged training?)"
        )
    return array


def _as_labels(values, n: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != n:
        raise MetricsInputError(f"{name} must hold one entry per embedding ({n}), got shape {array.shape}")
    return array


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise MetricsInputError(f"metric must be one of {METRICS}, got {metric!r}")


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes of arbitrary labels (strings or numbers), equal codes = equal labels."""
    return np.unique(values.astype(str), return_inverse=True)[1]


# ---------------------------------------------------------------- scores


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise MetricsInputError(
            "a zero embedding has no direction, so cosine similarity is undefined; "
            "use metric='euclidean' or check the model output"
        )
    return x / norms


def cross_scores(queries, gallery, metric: str) -> np.ndarray:
    """Similarity of each query (rows) to each gallery embedding (columns); higher = more alike."""
    _check_metric(metric)
    q, g = np.asarray(queries, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    if metric == "cosine":
        return _unit(q) @ _unit(g).T
    dist2 = np.sum(q * q, axis=1)[:, None] + np.sum(g * g, axis=1)[None, :] - 2.0 * (q @ g.T)
    return -np.sqrt(np.maximum(dist2, 0.0))


def score_matrix(emb, metric: str) -> np.ndarray:
    """Similarity of every pair of embeddings, shape (n, n); higher = more alike."""
    x = _as_embeddings(emb)
    return cross_scores(x, x, metric)


def pair_scores(emb, metric: str) -> np.ndarray:
    """Similarity of every unordered pair i < j, in ``np.triu_indices(n, 1)`` order."""
    scores = score_matrix(emb, metric)
    return scores[np.triu_indices(scores.shape[0], k=1)]


def build_pairs(emb, ids, *, metric: str, sessions=None, emo=None) -> Pairs:
    """Enumerate all pairs i < j with score, same-identity, same-session and expression flags."""
    x = _as_embeddings(emb)
    n = x.shape[0]
    upper = np.triu_indices(n, k=1)
    id_codes = _codes(_as_labels(ids, n, "ids"))
    same = id_codes[upper[0]] == id_codes[upper[1]]

    same_session = np.zeros_like(same)
    if sessions is not None:
        session_str = _as_labels(sessions, n, "sessions").astype(str)
        known = np.char.strip(session_str) != ""
        codes = _codes(session_str)
        same_session = (codes[upper[0]] == codes[upper[1]]) & known[upper[0]] & known[upper[1]]

    same_expression = np.zeros_like(same)
    cross_expression = np.zeros_like(same)
    if emo is not None:
        emo_codes = _as_labels(emo, n, "emo").astype(np.int64)
        both_known = (emo_codes[upper[0]] >= 0) & (emo_codes[upper[1]] >= 0)
        equal = emo_codes[upper[0]] == emo_codes[upper[1]]
        same_expression = both_known & equal
        cross_expression = both_known & ~equal

    score = score_matrix(x, metric)[upper]
    return Pairs(score, same, same_session, same_expression, cross_expression)


# ---------------------------------------------------------------- curve summaries


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FAR, TAR, thresholds) at every distinct score, from accepting nothing to accepting every pair.

    As ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)``: the first point is (0, 0) at an
    infinite threshold, then one point per distinct score in decreasing order (a pair is accepted when its
    score is >= the threshold). Needs both classes.
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, labels = scores[order], labels[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(scores)), labels.size - 1]
    true_accepts = np.cumsum(labels)[last_of_value]
    false_accepts = 1 + last_of_value - true_accepts
    far = np.r_[0.0, false_accepts / false_accepts[-1]]
    tar = np.r_[0.0, true_accepts / true_accepts[-1]]
    return far, tar, np.r_[np.inf, scores[last_of_value]]


def roc_rates(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """``roc_curve``'s FAR and TAR, the same numbers from a plain sort of the scores instead of an argsort of
    every pair (most of an epoch's validation, which scores every pair of the validation people).

    Each distinct score's accepted pairs (those scoring >= it) and true accepts are counted from the sorted
    scores and where the positives fall among them; they are the integers ``roc_curve`` divides, so the rates
    agree to the bit.
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    ascending = np.sort(scores)
    first_of_value = np.concatenate(([0], np.flatnonzero(np.diff(ascending)) + 1))
    value_of_positive = np.searchsorted(first_of_value, np.searchsorted(ascending, scores[labels]), side="right") - 1
    positives_per_value = np.bincount(value_of_positive, minlength=first_of_value.size)
    true_accepts = np.cumsum(positives_per_value[::-1])  # decreasing score: the positives scoring >= it
    false_accepts = ascending.size - first_of_value[::-1] - true_accepts
    return (
        np.concatenate(([0.0], false_accepts / false_accepts[-1])),
        np.concatenate(([0.0], true_accepts / true_accepts[-1])),
    )


def auc(far: np.ndarray, tar: np.ndarray) -> float:
    """Area under a ROC given by increasing FAR (the trapezoid rule, as ``sklearn.metrics.auc``)."""
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))


def roc_auc_score(labels, scores) -> float:
    """Probability that a positive outscores a negative, ties counted half (``sklearn.metrics.roc_auc_score``)."""
    far, tar, _ = roc_curve(labels, scores)
    return auc(far, tar)


def _has_both_classes(labels: np.ndarray) -> bool:
    return bool(labels.any()) and bool((~labels).any())


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if not _has_both_classes(labels):
        return float("nan")
    return float(roc_auc_score(labels, scores))


def _roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return roc_rates(labels, scores)


def equal_error_rate(far: np.ndarray, tar: np.ndarray) -> float:
    """Error rate where FAR equals FRR (= 1 - TAR).

    Taken where the ROC, linearly interpolated between its operating points,
    crosses FAR = FRR; a perfectly separating score gives 0.
    """
    gap = far - (1.0 - tar)  # rises from -1 (accept none) to +1 (accept all)
    i = int(np.argmax(gap >= 0))
    if i == 0:
        return float(far[0])
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(far[i - 1] + t * (far[i] - far[i - 1]))


def tar_at_far(far: np.ndarray, tar: np.ndarray, level: float, n_negative: int) -> float:
    """Highest TAR at an operating point whose FAR does not exceed ``level``.

    NaN when there are fewer than 1/level negative pairs: then even a single false
    accept exceeds the level and the number would describe a threshold above every
    negative rather than the requested FAR.
    """
    if n_negative * level < 1.0 - 1e-9:
        return float("nan")
    allowed = far <= level + 1e-12
    return float(np.max(tar[allowed]))


def _balanced_accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float | None) -> float:
    """Mean of the true-accept and true-reject rates at ``threshold``: the accuracy on a balanced set of
    positive and negative pairs, so the many easy negatives of a verification set do not dominate it."""
    if threshold is None or not _has_both_classes(labels):
        return float("nan")
    accepted = scores >= threshold
    return float((accepted[labels].mean() + (~accepted[~labels]).mean()) / 2)


# ---------------------------------------------------------------- public API


def verification_metrics(
    emb,
    ids,
    *,
    metric: str,
    sessions=None,
    emo=None,
    threshold: float | None = None,
    exclude_same_session: bool = True,
) -> dict:
    """Verification metrics over all unordered pairs of the given (test) images.

    Returns auc, eer, tar_at_far_1e-1, tar_at_far_1e-2 (NaN when fewer than 1/FAR
    negative pairs), balanced_accuracy (mean of the true-accept and true-reject rates with pairs scoring
    >= ``threshold`` called "same", i.e. accuracy on balanced pairs; NaN without a threshold; choose it on
    validation data with :func:`choose_threshold`), and with ``emo``: auc_same_expression /
    auc_cross_expression, each stratum's positives against its own negatives (pairs whose two known
    expressions are equal / differ), with n_positive_pairs_* and n_negative_pairs_* counts,
    n_positive_pairs, n_negative_pairs, and auc_all_pairs / eer_all_pairs /
    n_positive_pairs_all_pairs, which keep same-session positives.
    ``emo`` holds expression codes (index into ``vocabulary.EXPRESSIONS``, -1 = unknown).
    Metrics that cannot be computed are NaN and explained in ``notes``.
    """
    pairs = build_pairs(emb, ids, metric=metric, sessions=sessions, emo=emo)
    keep = pairs.evaluated(exclude_same_session)
    labels, scores = pairs.same[keep], pairs.score[keep]
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    notes = _notes(n_pos, n_neg, emo is not None, pairs, keep)

    result = {"n_positive_pairs": n_pos, "n_negative_pairs": n_neg}
    result.update(_curve_metrics(labels, scores, n_neg, suffix=""))
    result["balanced_accuracy"] = _balanced_accuracy(labels, scores, threshold)
    if emo is not None:
        for name, subset in (("same", pairs.same_expression), ("cross", pairs.cross_expression)):
            result.update(_stratum(pairs, keep & subset, f"{name}_expression"))

    all_pairs = _curve_metrics(pairs.same, pairs.score, int((~pairs.same).sum()), suffix="_all_pairs")
    result["auc_all_pairs"] = all_pairs["auc_all_pairs"]
    result["eer_all_pairs"] = all_pairs["eer_all_pairs"]
    result["n_positive_pairs_all_pairs"] = int(pairs.same.sum())
    result["notes"] = notes
    return result


def validation_figures(emb, ids, *, metric: str, sessions=None) -> dict:
    """``VALIDATION_FIGURES`` exactly as ``verification_metrics`` computes them (same-session positives
    excluded), without its other figures: what early stopping reads after every epoch."""
    x = _as_embeddings(emb)
    return ValidationPairs(_as_labels(ids, x.shape[0], "ids"), sessions).figures(x, metric)


class ValidationPairs:
    """The evaluated pairs of one set of validation images, which stay the same from epoch to epoch: built
    once, so that each epoch only scores them (``figures``, equal to ``validation_figures``).

    ``figures(..., remember=True)`` keeps the figures of those embeddings: the runs of one job that start
    from the same untrained model (one seed, one geometry) score the same epoch-0 embeddings.
    """

    def __init__(self, ids, sessions=None):
        self.n = len(ids)
        pairs = build_pairs(np.zeros((self.n, 1)), ids, metric="euclidean", sessions=sessions)  # scores unused
        keep = pairs.evaluated(True)
        upper = np.triu_indices(self.n, k=1)
        self.flat = (upper[0] * self.n + upper[1])[keep]  # positions in the raveled score matrix
        self.labels = pairs.same[keep]
        self.n_positive = int(self.labels.sum())
        self.n_negative = int((~self.labels).sum())
        self._remembered: dict[tuple, dict] = {}

    def figures(self, emb, metric: str, remember: bool = False) -> dict:
        x = _as_embeddings(emb)
        if x.shape[0] != self.n:
            raise MetricsInputError(f"{x.shape[0]} embeddings for {self.n} validation images")
        key = (metric, x.shape, x.tobytes())  # equal keys: equal embeddings to the bit, so equal figures
        figures = self._remembered.get(key) or self._score(score_matrix(x, metric).ravel()[self.flat])
        if remember:
            self._remembered[key] = figures
        return dict(figures)

    def _score(self, scores: np.ndarray) -> dict:
        """``_curve_metrics``' figures of these pairs, without the EER early stopping does not read."""
        if not _has_both_classes(self.labels):
            return dict.fromkeys(VALIDATION_FIGURES, float("nan"))
        far, tar = roc_rates(self.labels, scores)
        figures = {"auc": float(auc(far, tar))}
        figures.update({name: tar_at_far(far, tar, level, self.n_negative) for name, level in FAR_LEVELS.items()})
        return figures


def _curve_metrics(labels: np.ndarray, scores: np.ndarray, n_neg: int, suffix: str) -> dict:
    keys = ["auc", "eer", *FAR_LEVELS]
    if not _has_both_classes(labels):
        return {key + suffix: float("nan") for key in keys}
    far, tar = _roc(labels, scores)
    # trapezoid area under the full ROC equals roc_auc_score (ties included), one sort fewer
    values = [float(auc(far, tar)), equal_error_rate(far, tar)]
    values += [tar_at_far(far, tar, level, n_neg) for level in FAR_LEVELS.values()]
    return {key + suffix: value for key, value in zip(keys, values)}


def _stratum(pairs: Pairs, chosen: np.ndarray, name: str) -> dict:
    """AUC within one expression stratum, like with like: its positives against its own negatives (pairs of
    two people showing the same expression, or two different ones), with both pair counts."""
    labels, scores = pairs.same[chosen], pairs.score[chosen]
    return {
        f"auc_{name}": _auc(labels, scores),
        f"n_positive_pairs_{name}": int(labels.sum()),
        f"n_negative_pairs_{name}": int((~labels).sum()),
    }


def _notes(n_pos: int, n_neg: int, has_emo: bool, pairs: Pairs, keep: np.ndarray) -> list[str]:
    notes = []
    if n_pos == 0:
        notes.append("no positive pairs (after same-session exclusion): AUC, EER and TAR are NaN")
    if n_neg == 0:
        notes.append("no negative pairs (one identity only): AUC, EER and TAR are NaN")
    for level in FAR_LEVELS.values():
        if 0 < n_neg and n_neg * level < 1.0 - 1e-9:
            notes.append(f"only {n_neg} negative pairs: TAR at FAR {level:g} needs at least {round(1 / level)}")
    if not has_emo:
        notes.append("no expression labels given: no same/cross-expression AUC")
    else:
        for name, subset in (("same", pairs.same_expression), ("cross", pairs.cross_expression)):
            if not np.any(keep & pairs.same & subset) or not np.any(keep & ~pairs.same & subset):
                notes.append(f"no {name}-expression positive or negative pairs: auc_{name}_expression is NaN")
    return notes


def choose_threshold(emb, ids, *, metric: str, sessions=None) -> float:
    """Score threshold that maximises balanced pair accuracy (mean of true-accept and true-reject rates) on
    the given (validation) images.

    Pass validation embeddings only: the test set never chooses its own threshold.
    Same-session positives are excluded as in :func:`verification_metrics`. The
    threshold lies halfway between the last accepted and the first rejected score,
    and a pair is called "same" when its score is >= the threshold.
    """
    pairs = build_pairs(emb, ids, metric=metric, sessions=sessions)
    keep = pairs.evaluated(exclude_same_session=True)
    labels, scores = pairs.same[keep], pairs.score[keep]
    if not _has_both_classes(labels):
        raise MetricsInputError(
            "choosing a threshold needs positive and negative validation pairs; give the "
            "validation split at least two identities and one identity with two images "
            "(from different sessions when sessions are known)"
        )
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    n_positives, n_negatives = int(labels.sum()), int((~labels).sum())
    accept_rate = np.cumsum(sorted_labels) / n_positives
    reject_rate = 1.0 - np.cumsum(~sorted_labels) / n_negatives
    # one candidate per distinct score: accept everything scoring >= that value
    last_of_value = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    balanced = (accept_rate[last_of_value] + reject_rate[last_of_value]) / 2
    values = sorted_scores[last_of_value]
    best = int(np.argmax(balanced))
    if balanced[best] <= 0.5:  # no cut beats chance: reject every pair
        return float(np.nextafter(values[0], np.inf))
    if best + 1 < values.size:
        return float((values[best] + values[best + 1]) / 2.0)
    return float(values[best])


def rank1_identification(emb, ids, *, metric: str, n_draws: int = 10, seed: int = 0, sessions=None) -> float:
    """One-shot identification: mean rank-1 accuracy over random gallery draws.

    Each draw puts one random image of every identity in the gallery; every other
    image is a probe, matched to its most similar gallery image. Identities with a
    single image are gallery-only (distractors that make the task harder). With
    ``sessions``, probes from the same known session as their identity's gallery
    image are not scored (they would be near-duplicates). Draws without a scored
    probe are skipped; NaN when no draw has one.
    """
    if n_draws < 1:
        raise MetricsInputError(f"n_draws must be at least 1, got {n_draws}")
    x = _as_embeddings(emb)
    n = x.shape[0]
    id_codes = _codes(_as_labels(ids, n, "ids"))
    session_str = None if sessions is None else _as_labels(sessions, n, "sessions").astype(str)
    members_by_identity = _group_indices(id_codes)
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(n_draws):
        gallery = np.array([rng.choice(members) for members in members_by_identity])
        accuracy = _rank1_once(x, id_codes, gallery, session_str, metric)
        if accuracy is not None:
            accuracies.append(accuracy)
    return float(np.mean(accuracies)) if accuracies else float("nan")


def _group_indices(codes: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(codes == code) for code in np.unique(codes)]


def _rank1_once(x, id_codes, gallery, session_str, metric) -> float | None:
    probe_mask = np.ones(x.shape[0], dtype=bool)
    probe_mask[gallery] = False
    if session_str is not None:
        own_gallery = dict(zip(id_codes[gallery], gallery))
        own_session = session_str[[own_gallery[c] for c in id_codes]]
        probe_mask &= ~((session_str == own_session) & (np.char.strip(session_str) != ""))
    probes = np.flatnonzero(probe_mask)
    if probes.size == 0:
        return None
    nearest = np.argmax(cross_scores(x[probes], x[gallery], metric), axis=1)
    return float(np.mean(id_codes[gallery][nearest] == id_codes[probes]))


def roc_points(emb, ids, *, metric: str, sessions=None) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) operating points of the ROC over the evaluated pairs, for the figures."""
    pairs = build_pairs(emb, ids, metric=metric, sessions=sessions)
    keep = pairs.evaluated(exclude_same_session=True)
    labels = pairs.same[keep]
    if not _has_both_classes(labels):
        raise MetricsInputError(
            "an ROC needs positive and negative pairs; the given images have "
            f"{int(labels.sum())} positive and {int((~labels).sum())} negative pairs"
        )
    return _roc(labels, pairs.score[keep])
