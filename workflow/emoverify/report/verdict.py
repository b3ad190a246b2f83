"""The study's answer on one page: each expression loss against its matched baseline on the lead metric,
with the references beside, and one sentence that says yes, no, or how large a gain the study could have
missed.

A comparison counts as a gain when its Holm-adjusted p is below 5 % and its difference is positive. A study
answers "no" only when every comparison with real labels lies below its baseline (its whole 95 % interval
below zero); otherwise a study without a gain says "no gain larger than X", X being the largest detectable
difference among those comparisons at the level the verdict really uses: 80 % power at Holm's level for a
single true gain among the m comparisons of the lead metric (two-sided 5 % / m), so a gain that large would have
passed Holm's adjustment in each with at least 80 % probability. Beside it, the largest upper end of their 95 %
intervals bounds the gain by the data themselves. Where X passes the largest difference the metric can show (1
for a rate), it says "cannot tell": the design cannot detect any difference within the metric's range. Intervals
are shown as computed, flagged where they pass that range. A comparison whose method equalled its baseline's
figure in every fold unit is named apart and left out of the Holm family: its zero detectable difference is the
zero spread of equal figures, not power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from emoverify.registry import SHUFFLED
from emoverify.report import shown
from emoverify.report.comparisons import outcome
from emoverify.report.runs_table import SummaryInputError
from emoverify.report.statistics import ALPHA, metric_bounds

LEAD_METRIC = "tar_at_far_1e-2"
METRIC_NAMES = {
    "tar_at_far_1e-2": "TAR at FAR 1e-2",
    "tar_at_far_1e-1": "TAR at FAR 1e-1",
    "auc": "AUC",
    "rank1": "rank-1",
    "eer": "EER",
}
SAME_AS_BASELINE = "same as baseline in every unit"
COLUMNS = [
    "row",
    "method",
    "labels",
    "baseline",
    "mean",
    "baseline_mean",
    "difference",
    "ci95_low",
    "ci95_high",
    "p_holm",
    "holm_family",
    "detectable_diff",
    "detectable_diff_unadjusted",
    "n_units",
    "finding",
]
SIGNIFICANCE_NEEDS = ("method", "labels", "baseline", "baseline_labels", "metric", "n_units", "mean_diff")
SIGNIFICANCE_NEEDS += ("ci95_low", "ci95_high", "p_holm", "sd_diff", "detectable_diff", "holm_family")
SIGNIFICANCE_NEEDS += ("detectable_diff_holm",)


def dataset_name(adapter: str, data_root: str) -> str:
    """How the verdict names the dataset: the adapter, or for the generic csv and folder adapters the data's
    folder, or a table file with its folder (a table's own name, say labels.csv, rarely names the data)."""
    if adapter in ("csv", "folder") and data_root:
        return f"{shown.shown_root(data_root)} ({adapter})"
    return adapter


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def is_control(label_source: str) -> bool:
    """Whether a label source is a shuffled control (its gains cannot come from expression information)."""
    return label_source == SHUFFLED or label_source.startswith(f"{SHUFFLED}_")


def lead_metric(significance: pd.DataFrame) -> str:
    """TAR at FAR 1e-2 where the study has it, otherwise the first metric of the significance table."""
    metrics = list(dict.fromkeys(significance["metric"])) if "metric" in significance else []
    return LEAD_METRIC if LEAD_METRIC in metrics or not metrics else metrics[0]


def verdict_table(
    significance: pd.DataFrame, summary: pd.DataFrame, references: Sequence[str], metric: str = LEAD_METRIC
) -> pd.DataFrame:
    """One row per comparison of ``metric`` (method minus its matched baseline, per label source), then one
    row per reference that ran, with its mean; ``finding`` says gain, below baseline, no difference detected,
    same as baseline in every unit (a zero difference with a zero-width interval) or not tested.
    ``detectable_diff`` is at the Holm level of the metric's ``holm_family`` (significance's
    ``detectable_diff_holm``), ``detectable_diff_unadjusted`` at two-sided 5 %."""
    missing = [column for column in SIGNIFICANCE_NEEDS if column not in significance.columns]
    if missing:
        raise SummaryInputError(f"the significance table lacks columns {missing}")
    means = _means(summary, metric)
    rows = []
    for _, test in significance[significance["metric"] == metric].iterrows():
        rows.append(
            {
                "row": "comparison",
                "method": test["method"],
                "labels": test["labels"],
                "baseline": test["baseline"],
                "mean": means.get((test["method"], test["labels"]), math.nan),
                "baseline_mean": means.get((test["baseline"], test["baseline_labels"]), math.nan),
                "difference": test["mean_diff"],
                "ci95_low": test["ci95_low"],
                "ci95_high": test["ci95_high"],
                "p_holm": test["p_holm"],
                "holm_family": test["holm_family"],
                "detectable_diff": test["detectable_diff_holm"],
                "detectable_diff_unadjusted": test["detectable_diff"],
                "n_units": test["n_units"],
                "finding": _finding(test),
            }
        )
    for reference in references:
        for (method, label_source), mean in means.items():
            if method == reference:
                rows.append({"row": "reference", "method": method, "labels": label_source, "mean": mean, "finding": ""})
    return pd.DataFrame(rows, columns=COLUMNS).astype({"n_units": "Int64", "holm_family": "Int64"})


def _means(summary: pd.DataFrame, metric: str) -> dict:
    column = f"{metric}_mean"
    if column not in summary.columns:
        return {}
    return {(row["method"], row["labels"]): row[column] for _, row in summary.iterrows()}


def _finding(test: pd.Series) -> str:
    return outcome(test, (SAME_AS_BASELINE, "gain", "below baseline"))


def verdict_sentence(table: pd.DataFrame, dataset: str, metric: str = LEAD_METRIC) -> str:
    """yes (naming every expression loss that beats its baseline, and by how much), no, or "no gain larger
    than X" for one dataset, from a verdict table."""
    name = metric_name(metric)
    tests = table[table["row"] == "comparison"]
    real = tests[~tests["labels"].map(is_control).astype(bool)]
    tested = real[real["finding"] != "not tested"]
    if real.empty:
        return f"{dataset}: cannot tell: no expression loss ran against a matched baseline."
    if tested.empty:
        return f"{dataset}: cannot tell: no comparison has two fold units to test ({name})."
    same = tested[tested["finding"] == SAME_AS_BASELINE]
    if len(same) == len(tested):
        return (
            f"{dataset}: cannot tell: every expression loss gave its matched baseline's {name} in every fold unit "
            f"({_count(len(tested), 'comparison')}), so on it the expression terms tested nothing."
        )
    gains = tested[tested["finding"] == "gain"]
    if not gains.empty:
        wins = "; ".join(
            f"{_who(row)} beats its baseline {row['baseline']} by {row['difference']:.3f} {name} "
            f"(95 % interval {row['ci95_low']:.3f} to {row['ci95_high']:.3f}, p after Holm {_p(row['p_holm'])})"
            for _, row in gains.iterrows()
        )
        return f"{dataset}: yes: {wins}.{_control_note(tests, gains)}"
    if (tested["ci95_high"] < 0).all():
        return (
            f"{dataset}: no: every expression loss is below its matched baseline on {name} "
            f"(each 95 % interval lies below zero, {len(tested)} comparisons)."
        )
    differ = tested[tested["finding"] != SAME_AS_BASELINE]
    largest = float(differ["detectable_diff"].max())
    family = int(differ["holm_family"].max())
    below = tested[tested["finding"] == "below baseline"]
    worse = ""
    if len(below):
        worse = f" Below their baselines: {', '.join(_who(row) for _, row in below.iterrows())}."
    none_beats = (
        f"no expression loss beats its matched baseline (p after Holm at least {ALPHA:g} in all {len(tested)} "
        "comparisons)"
    )
    level = (
        f"at the level Holm's adjustment sets a single true gain among the {_count(family, 'comparison')} of "
        f"{name} (two-sided {ALPHA:g} / {family})"
    )
    beyond = beyond_range(differ["detectable_diff"], metric)
    if beyond:
        return f"{dataset}: cannot tell: {none_beats}, but {beyond} {level}.{_same_note(same, name)}{worse}"
    powered = "each comparison" if same.empty else f"each of the {len(differ)} that differ from it"
    return (
        f"{dataset}: no gain larger than {largest:.3f} {name}: {none_beats}, and {powered} finds a gain "
        f"of {largest:.3f} with at least 80 % power {level}. By the data themselves, the largest upper end of "
        f"their 95 % intervals is {float(differ['ci95_high'].max()):.3f}.{_same_note(same, name)}{worse}"
    )


def difference_range(metric: str) -> float | None:
    """The largest difference two figures of ``metric`` can show (1 for a rate or an area), None where the
    metric has no bounds."""
    bounds = metric_bounds(metric)
    return None if bounds is None else bounds[1] - bounds[0]


def beyond_range(detectable: pd.Series, metric: str) -> str:
    """Words the bound a design cannot give: where a comparison's detectable difference passes the largest
    difference the metric can show, "no gain larger than X" would quote an X no result could reach, so the
    design cannot detect any difference within the metric's range. Empty where every one lies within it."""
    span = difference_range(metric)
    if span is None or not (detectable > span).any():
        return ""
    past, within = detectable[detectable > span], detectable[detectable <= span]
    which = f" in {len(past)} of {len(detectable)} comparisons" if len(within) else ""
    worded = (
        f"this design cannot detect any difference within the metric's range{which} (detectable difference "
        f"{float(past.max()):.2f} > {span:g})"
    )
    if len(within):
        others = "the other one finds" if len(within) == 1 else f"the other {len(within)} find"
        worded += f"; {others} a gain of {float(within.max()):.3f} with at least 80 % power"
    return worded


def _same_note(same: pd.DataFrame, name: str) -> str:
    """Names the comparisons whose method equalled its baseline's figure in every fold unit: their zero
    detectable difference is the zero spread of equal figures, not power."""
    if same.empty:
        return ""
    methods = {method: ", ".join(rows["labels"]) for method, rows in same.groupby("method", sort=False)}
    named = "; ".join(f"{method} ({label_source} labels)" for method, label_source in methods.items())
    return (
        f" The other {len(same)} give their baseline's {name} in every fold unit, so on it their expression terms "
        f"tested nothing (and they are left out of its Holm family): {named}."
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _who(row) -> str:
    return f"{row['method']} ({row['labels']} labels)"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _control_note(tests: pd.DataFrame, gains: pd.DataFrame) -> str:
    """Says when the shuffled control of a winning method also beats the baseline."""
    controls = tests[tests["labels"].map(is_control).astype(bool) & (tests["finding"] == "gain")]
    also = sorted(set(controls["method"]) & set(gains["method"]))
    if not also:
        return ""
    return (
        f" With shuffled labels {', '.join(also)} also beats its baseline: that gain need not come from "
        "expression information."
    )


def verdict_rst(table: pd.DataFrame, sentence: str, metric: str = LEAD_METRIC, training: str = "") -> str:
    """The verdict as reStructuredText for the report's first page: the sentence, what training did (a
    paragraph of its own, when given), then the table."""
    name = metric_name(metric)
    header = ["method", "labels", "baseline", name, "baseline's", "difference", "95 % interval", "p after Holm"]
    header += ["Holm family", "detectable (Holm level)", "detectable (5 %)", "units", "finding"]
    lines = [
        f"**Verdict** ({_rst_text(name)}, method minus its matched baseline over fold units): {_rst_text(sentence)}",
        "",
        *([_rst_text(training), ""] if training else []),
        ".. list-table::",
        "   :header-rows: 1",
        "",
    ]
    for cells in [header, *(_cells(row, metric) for _, row in table.iterrows())]:
        lines.append(f"   * - {_rst_text(cells[0])}")
        lines += [f"     - {_rst_text(cell)}" for cell in cells[1:]]
    return "\n".join(lines) + "\n"


def _cells(row: pd.Series, metric: str = LEAD_METRIC) -> list[str]:
    if row["row"] == "reference":
        return [row["method"], row["labels"], "reference", _number(row["mean"]), *[""] * 9]
    interval = _interval(row["ci95_low"], row["ci95_high"], metric)
    return [
        row["method"],
        row["labels"],
        row["baseline"],
        _number(row["mean"]),
        _number(row["baseline_mean"]),
        _number(row["difference"]),
        interval,
        _p(row["p_holm"]) if math.isfinite(row["p_holm"]) else "",
        "" if pd.isna(row["holm_family"]) else str(int(row["holm_family"])),
        _number(row["detectable_diff"]),
        _number(row["detectable_diff_unadjusted"]),
        str(int(row["n_units"])),
        row["finding"],
    ]


def _interval(low: float, high: float, metric: str) -> str:
    """A difference's 95 % interval as computed, flagged where it passes the differences the metric can show
    (few fold units give such intervals; clipping them would hide how little the design says)."""
    if not math.isfinite(low):
        return ""
    span = difference_range(metric)
    flag = (
        f" (as computed; a difference lies within ±{span:g})"
        if span is not None and (low < -span or high > span)
        else ""
    )
    return f"{_number(low)} to {_number(high)}{flag}"


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and math.isfinite(value) else ""


def _rst_text(text: str) -> str:
    """Text shown as written: names like tl_pdp must not read as reStructuredText references, a dataset name
    must not start a directive (``shown.rst_text``)."""
    return shown.rst_text(text)


# --------------------------------------------------------------------------- the manipulation check's reading


def manipulation_reading(acted_terms: Sequence[str], verification, metric: str = LEAD_METRIC) -> str:
    """One comparison's answer once the manipulation check is in: its expression term did not act (then
    verification answers nothing about it), or it acted and verification changed, or it acted and
    verification gained no more than the detectable difference X. ``verification`` is the comparison's row
    of the verdict table (None where it has none)."""
    if not acted_terms:
        return "the term did not act (no answer on verification)"
    acting = f"the term acted ({', '.join(acted_terms)} lower than the baseline's)"
    name = metric_name(metric)
    finding = None if verification is None else verification["finding"]
    if finding in ("gain", "below baseline"):
        return f"{acting} and verification changed ({finding}, {verification['difference']:+.3f} {name})"
    if finding == "no difference detected" and math.isfinite(verification["detectable_diff"]):
        return f"{acting} and verification gained no more than {verification['detectable_diff']:.3f} {name}"
    if finding == SAME_AS_BASELINE:
        return f"{acting} but verification gave the baseline's {name} in every fold unit"
    return f"{acting}; verification was not tested ({name})"
