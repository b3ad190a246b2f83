"""The report's view of a tuned study: each (method, labels, repeat, fold) keeps only its selected candidate's
runs, under the method's own name, so summary and significance compare winners; every candidate's figures go
to the candidates table (the sensitivity figure's data)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from emoverify.tuning.grid import is_candidate, parent_method

UNIT_KEYS = ["method", "labels", "repeat", "fold"]


class StaleSelectionError(ValueError):
    """A selection that names a candidate this study did not run (left over from another grid)."""


def read_selections(paths) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in paths]


def selections_table(selections: list[dict]) -> pd.DataFrame:
    """One row per (method, labels, repeat, fold, candidate): its validation figure and whether it won."""
    rows = []
    for selection in selections:
        unit = {key: selection[key] for key in UNIT_KEYS}
        for record in selection["candidates"]:
            rows.append(
                {
                    **unit,
                    "candidate": record["name"],
                    **{f"setting_{knob}": value for knob, value in record["settings"].items()},
                    "validation": record["validation"],
                    "figure": record["figure_used"],
                    "selected": record["name"] == selection["winner"],
                    "tuned": selection["tuned"],
                    "reason": selection["reason"] if record["name"] == selection["winner"] else record["status"],
                }
            )
    return pd.DataFrame(rows)


def winning_runs(runs: pd.DataFrame, selections: list[dict]) -> pd.DataFrame:
    """The runs table a tuned study reports: references unchanged, each selected candidate's runs renamed to
    their method (``candidate`` and ``setting_<knob>`` columns say which), a missing row where no candidate
    could be selected; the other candidates' runs are left out. A selection whose winner has no run here is
    stale and stops the report rather than dropping its unit."""
    plain = runs[~runs["method"].map(is_candidate)]
    kept = [plain]
    for selection in selections:
        unit = (runs["labels"] == selection["labels"]) & (runs["repeat"] == selection["repeat"])
        unit &= runs["fold"] == selection["fold"]
        if selection["winner"] is None:
            missing = {key: selection[key] for key in UNIT_KEYS}
            status = f"missing: no candidate selected ({selection['reason']})"
            kept.append(pd.DataFrame([{**missing, "status": status}]))
            continue
        chosen = runs[unit & (runs["method"] == selection["winner"])].copy()
        if chosen.empty:
            where = ", ".join(f"{key} {selection[key]}" for key in UNIT_KEYS)
            raise StaleSelectionError(
                f"the selection of {where} names candidate {selection['winner']}, which has no run in this study "
                "(a selection left from another grid?); rerun the selection (snakemake --forcerun select_candidate)"
            )
        chosen["candidate"] = selection["winner"]
        for knob, value in selection["winner_settings"].items():
            chosen[f"setting_{knob}"] = value
        chosen["method"] = selection["method"]
        kept.append(chosen)
    table = pd.concat(kept, ignore_index=True)
    for column in ("repeat", "fold", "seed"):
        table[column] = pd.array(table[column], dtype="Int64")
    table["reference"] = table["reference"].fillna(False).astype(bool)
    for column in ("notes", "candidate"):
        if column in table:
            table[column] = table[column].fillna("").astype(str)
    return table


def winner_names(selections: list[dict]) -> dict[tuple, str]:
    """(candidate run name, labels, repeat, fold) -> method, for every selected candidate."""
    return {
        (s["winner"], s["labels"], s["repeat"], s["fold"]): s["method"] for s in selections if s["winner"] is not None
    }


def candidate_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Every candidate's runs with their parent method (the candidates table's test side)."""
    table = runs[runs["method"].map(is_candidate)].copy()
    table.insert(0, "candidate", table["method"])
    table["method"] = table["candidate"].map(parent_method)
    return table
