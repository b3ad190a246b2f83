"""Each loss written as a plain loop straight from the paper's formulas: slow and obviously right, the reference
the vectorised losses are tested against (tests/test_losses.py) and timed against (benchmarks.micro.losses).

``LOSSES`` maps a loss's name to its vectorised form ``(emb, ids, emo, parts)`` and its loop ``(x, ids list, emo
list, parts)``; ``parts`` holds the trainable pieces some losses need: ``head`` (an ArcFaceHead), ``net`` (a
CompositionNet), ``classifier`` (an ExpressionClassifier) and ``offsets`` (basis_offsets).
"""

from __future__ import annotations

import itertools
import math

import torch

from emoverify import losses


def d2(x, i, j):
    return ((x[i] - x[j]) ** 2).sum()


def relu(value):
    return torch.clamp(value, min=0.0)


def mean_of(terms, x):
    return sum(terms) / len(terms) if terms else x.sum() * 0.0


def loop_triplet_all(x, ids, margin):
    n = range(len(ids))
    terms = [
        relu(d2(x, a, p) - d2(x, a, q) + margin)
        for a in n
        for p in n
        for q in n
        if ids[p] == ids[a] and p != a and ids[q] != ids[a]
    ]
    return mean_of(terms, x)


def loop_triplet_batch_hard(x, ids, margin):
    terms = []
    for a in range(len(ids)):
        positives = [d2(x, a, p) for p in range(len(ids)) if ids[p] == ids[a] and p != a]
        negatives = [d2(x, a, q) for q in range(len(ids)) if ids[q] != ids[a]]
        if positives and negatives:
            terms.append(relu(max(positives) - min(negatives) + margin))
    return mean_of(terms, x)


def loop_triplet_semi_hard(x, ids, margin):
    terms = []
    for a in range(len(ids)):
        negatives = [d2(x, a, q) for q in range(len(ids)) if ids[q] != ids[a]]
        if not negatives:
            continue
        for p in range(len(ids)):
            if ids[p] != ids[a] or p == a:
                continue
            positive = d2(x, a, p)
            farther = [v for v in negatives if v > positive]
            negative = min(farther) if farther else max(negatives)
            terms.append(relu(positive - negative + margin))
    return mean_of(terms, x)


def unit(v):
    return v / torch.sqrt((v**2).sum())


def loop_arcface_geodesic(x, ids, margin):
    z = [unit(x[i]) for i in range(len(ids))]
    terms = []
    for a in range(len(ids)):
        mates = [z[j] for j in range(len(ids)) if ids[j] == ids[a] and j != a]
        if not mates:
            continue
        own = unit(sum(mates))
        for other in sorted(set(ids) - {ids[a]}):
            centroid = unit(sum(z[j] for j in range(len(ids)) if ids[j] == other))
            terms.append(relu(torch.acos((z[a] * own).sum()) - torch.acos((z[a] * centroid).sum()) + margin))
    return mean_of(terms, x)


def loop_arcface_head(x, ids, weight, scale, margin):
    terms = []
    for i in range(len(ids)):
        cosines = [(unit(x[i]) * unit(weight[c])).sum() for c in range(weight.shape[0])]
        theta = torch.acos(cosines[ids[i]])
        if theta + margin < math.pi:
            target = torch.cos(theta + margin)
        else:
            target = cosines[ids[i]] - margin * math.sin(margin)
        logits = [scale * (target if c == ids[i] else cosines[c]) for c in range(len(cosines))]
        terms.append(torch.log(sum(torch.exp(v) for v in logits)) - logits[ids[i]])
    return mean_of(terms, x)


def loop_pdm(x, ids, emo):
    terms = [
        d2(x, i, j)
        for i, j in itertools.combinations(range(len(ids)), 2)
        if ids[i] == ids[j] and emo[i] == emo[j] != -1
    ]
    return mean_of(terms, x)


def loop_pdp(x, ids, emo):
    pairs = [
        (i, j)
        for i, j in itertools.combinations(range(len(ids)), 2)
        if ids[i] == ids[j] and emo[i] != -1 and emo[j] != -1 and emo[i] != emo[j]
    ]
    terms = [
        (d2(x, i, j) - d2(x, k, m)) ** 2
        for (i, j), (k, m) in itertools.combinations(pairs, 2)
        if ids[i] != ids[k] and {emo[i], emo[j]} == {emo[k], emo[m]}
    ]
    return mean_of(terms, x)


def ordered_expression_pairs(ids, emo):
    return [
        (i, j)
        for i, j in itertools.permutations(range(len(ids)), 2)
        if ids[i] == ids[j] and emo[i] != -1 and emo[j] != -1 and emo[i] != emo[j]
    ]


def loop_fbv(x, ids, emo, offsets):
    terms = [
        ((x[j] - x[i] - (offsets[emo[j]] - offsets[emo[i]])) ** 2).sum() for i, j in ordered_expression_pairs(ids, emo)
    ]
    return mean_of(terms, x)


def loop_ce(x, ids, emo, net):
    terms = [
        ((net(x[i : i + 1], torch.tensor([emo[i]]), torch.tensor([emo[j]]))[0] - x[j]) ** 2).sum()
        for i, j in ordered_expression_pairs(ids, emo)
    ]
    return mean_of(terms, x)


def loop_mtl(x, emo, classifier):
    terms = []
    for i in range(len(emo)):
        if emo[i] != -1:
            logits = classifier(x[i : i + 1])[0]
            terms.append(torch.log(torch.exp(logits).sum()) - logits[emo[i]])
    return mean_of(terms, x)


# name -> (vectorised(emb, ids, emo, parts), loop(x, ids list, emo list, parts))
LOSSES = {
    "triplet_all": (
        lambda e, i, m, t: losses.triplet(e, i, margin=0.3, mining="all"),
        lambda x, i, m, t: loop_triplet_all(x, i, 0.3),
    ),
    "triplet_batch_hard": (
        lambda e, i, m, t: losses.triplet(e, i, margin=0.3, mining="batch_hard"),
        lambda x, i, m, t: loop_triplet_batch_hard(x, i, 0.3),
    ),
    "triplet_semi_hard": (
        lambda e, i, m, t: losses.triplet(e, i, margin=0.3, mining="semi_hard"),
        lambda x, i, m, t: loop_triplet_semi_hard(x, i, 0.3),
    ),
    "arcface_geodesic": (
        lambda e, i, m, t: losses.arcface_geodesic(e, i, margin=0.4),
        lambda x, i, m, t: loop_arcface_geodesic(x, i, 0.4),
    ),
    "arcface_head": (
        lambda e, i, m, t: t["head"](e, i),
        lambda x, i, m, t: loop_arcface_head(x, i, t["head"].weight, t["head"].scale, t["head"].margin),
    ),
    "pdm": (lambda e, i, m, t: losses.pdm(e, i, m), lambda x, i, m, t: loop_pdm(x, i, m)),
    "pdp": (lambda e, i, m, t: losses.pdp(e, i, m), lambda x, i, m, t: loop_pdp(x, i, m)),
    "fbv": (
        lambda e, i, m, t: losses.fbv(e, i, m, t["offsets"]),
        lambda x, i, m, t: loop_fbv(x, i, m, t["offsets"]),
    ),
    "ce": (lambda e, i, m, t: losses.ce(e, i, m, t["net"]), lambda x, i, m, t: loop_ce(x, i, m, t["net"])),
    "mtl": (lambda e, i, m, t: losses.mtl(e, m, t["classifier"]), lambda x, i, m, t: loop_mtl(x, m, t["classifier"])),
}
EXPRESSION_LOSSES = ("pdm", "pdp", "fbv", "ce", "mtl")
