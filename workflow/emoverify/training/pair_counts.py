"""How many pairs each expression loss gets from a training set, and whether they all fall within one recording
session (frames of one sequence: the near-duplicates evaluation excludes), in which case the loss cannot test
its idea on this data.

Every count is the loss class's own: ``losses.pairs_used`` for the pairs it averages over, and
``losses.person_pairs`` for the same-person pairs its idea rests on (its ``built_on``: same-expression pairs for
PDM, cross-expression pairs for PDP, FBV and CE, none for MTL, which reads single labelled images and so has no
pairs to fall within a session).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from emoverify import losses
from emoverify.registry import expression_losses
from emoverify.vocabulary import EXPRESSIONS

COLUMNS = ["loss", "pairs", "person_pairs", "same_session_pairs", "single_session"]
LABEL_COLUMNS = ["image_id", "identity", "session", "label"]


class PairCountError(ValueError):
    """Training-label files that cannot be counted as given (the message names the file and the problem)."""


def session_codes(identities, sessions) -> np.ndarray:
    """One code per image, equal for two images of one person's known session; an image whose session is
    unknown ("") gets a code of its own (it shares a session with nobody)."""
    keys = [
        f"{identity}\0{session}" if str(session).strip() else f"\0unknown{index}"
        for index, (identity, session) in enumerate(zip(identities, sessions))
    ]
    return np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)[1]


def loss_pairs(identities, sessions, expressions, names=None) -> pd.DataFrame:
    """Per expression loss: the pairs (quadruples, labelled images) it averages over on these images, the
    same-person pairs it is built on, how many of those share a recording session, and ``single_session``:
    every one of them does. ``expressions`` are codes (-1 unknown); ``names`` default to every expression loss."""
    names = expression_losses() if names is None else names
    identity_codes = torch.as_tensor(np.unique(np.asarray(identities).astype(str), return_inverse=True)[1])
    within = torch.as_tensor(session_codes(identities, sessions))
    emo = torch.as_tensor(np.asarray(expressions, dtype=np.int64))
    rows = []
    for name in names:
        person = losses.person_pairs(name, identity_codes, emo)
        same_session = losses.person_pairs(name, within, emo)
        rows.append(
            {
                "loss": name,
                "pairs": losses.pairs_used(name, identity_codes, emo),
                "person_pairs": person,
                "same_session_pairs": same_session,
                "single_session": bool(person > 0 and same_session == person),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def single_session_losses(identities, sessions, expressions, names) -> list[str]:
    """The losses among ``names`` whose same-person pairs all fall within one recording session."""
    names = [name for name in names if name in expression_losses()]
    table = loss_pairs(identities, sessions, expressions, names)
    return table.loc[table["single_session"], "loss"].tolist()


def warning_line(loss: str, counts: pd.Series) -> str:
    """The log's line for a loss that cannot test its idea on this training set."""
    return (
        f"warning: every one of the {int(counts['person_pairs'])} same-person pairs {loss} is built on falls "
        "within one recording session (frames of one sequence, the near-duplicates evaluation excludes): "
        f"{loss} cannot test its idea on this data"
    )


def training_labels(faces) -> pd.DataFrame:
    """The labels a run's losses read on its training faces (a FaceSet): image id, identity, session and
    expression name ("" unknown)."""
    names = [EXPRESSIONS[code] if code >= 0 else "" for code in np.asarray(faces.expressions)]
    return pd.DataFrame(
        {
            "image_id": list(faces.image_ids),
            "identity": np.asarray(faces.identities).astype(str),
            "session": np.asarray(faces.sessions).astype(str),
            "label": names,
        },
        columns=LABEL_COLUMNS,
    )


def read_training_labels(path) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False, dtype=str)
    missing = set(LABEL_COLUMNS) - set(table.columns)
    if missing:
        raise PairCountError(f"{path}: lacks column(s) {sorted(missing)}; expected {', '.join(LABEL_COLUMNS)}")
    return table


def pair_counts_table(label_files: dict[tuple, str]) -> pd.DataFrame:
    """The pairs per loss per label source and fold unit, from the training labels the runs wrote.

    ``label_files`` maps (labels, repeat, fold) to the training_labels.csv files of every run of that unit
    (methods, candidates, seeds). They must agree: one label source gives every run of a unit the same labels;
    a disagreement stops the table, naming both files."""
    rows = []
    for (labels, repeat, fold), paths in sorted(label_files.items()):
        if not paths:
            continue
        first = read_training_labels(paths[0])
        for other in paths[1:]:
            if not read_training_labels(other).equals(first):
                raise PairCountError(
                    f"{other} and {paths[0]} are runs of label source {labels}, repeat {repeat}, fold {fold}, but "
                    "their training labels differ; rerun both (snakemake --forcerun train_run)"
                )
        lookup = {name: index for index, name in enumerate(EXPRESSIONS)}
        codes = [lookup.get(label, -1) for label in first["label"]]
        counts = loss_pairs(first["identity"], first["session"], codes)
        rows.append(counts.assign(labels=labels, repeat=int(repeat), fold=int(fold), training_images=len(first)))
    columns = ["labels", "repeat", "fold", "training_images", *COLUMNS]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]
