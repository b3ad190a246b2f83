"""PDM without its same-session pairs: evaluation's exclude_same_session, for the loss.

On a dataset that films each expression of a person as one sequence (CK+), every same-person same-expression
pair PDM pulls together is two frames of one recording: near-duplicates. With this option PDM averages only over
the pairs whose images come from different recordings (an image whose session is unknown shares one with
nobody). Built from the losses' public functions: a cell's pair sum is ``pdm`` times its pair count, so the
across-session sum is the person-level sum minus the session-level one.
"""

from __future__ import annotations

from torch import Tensor

from emoverify import losses


def pdm_across_sessions(emb: Tensor, ids, emo, sessions) -> Tensor:
    """Mean ``d2(i, j)`` over pairs of one identity and one known expression recorded in different sessions;
    ``sessions`` are codes equal only for two images of one person's known session (see
    ``pair_counts.session_codes``); 0 when there is no such pair."""
    person_pairs = losses.pairs_used("pdm", ids.cpu(), emo.cpu())
    session_pairs = losses.pairs_used("pdm", sessions.cpu(), emo.cpu())
    person_total = losses.pdm(emb, ids, emo) * person_pairs
    session_total = losses.pdm(emb, sessions, emo) * session_pairs
    return (person_total - session_total) / max(person_pairs - session_pairs, 1)


def pairs_across_sessions(ids, emo, sessions) -> int:
    """How many pairs ``pdm_across_sessions`` averages over."""
    return losses.pairs_used("pdm", ids, emo) - losses.pairs_used("pdm", sessions, emo)
