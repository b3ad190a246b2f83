"""Figures of the report stage (PNG, Agg backend): PCA, ROC, per-run AUC, training curves.

Every figure has a title, axis labels and a legend. Inputs that do not fit together
raise :class:`PlotInputError`; an empty input (every run missing) gives a figure
that says so rather than no file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

from emoverify.registry import DETECTED, MANUAL, NO_LABELS, REFERENCES  # noqa: E402
from emoverify.report.statistics import POWER_CURVE_COLUMNS  # noqa: E402
from emoverify.vocabulary import EXPRESSIONS  # noqa: E402

UNKNOWN_EXPRESSIONS = ("", "unknown", "none")
EXPRESSION_MARKERS = dict(zip(EXPRESSIONS, ("o", "v", "s", "D", "^", "P", "X", "*")))
SPARE_MARKERS = ("<", ">", "h", "p", "d", "8")
UNKNOWN_MARKER = "."
HISTORY_NON_LOSS_COLUMNS = ("epoch", "val_auc", "seconds")
LABEL_COLOURS = {MANUAL: "tab:blue", DETECTED: "tab:orange", NO_LABELS: "tab:green", "reference": "0.45"}
KIND_LEGEND = {
    MANUAL: "runs: manual labels",
    DETECTED: "runs: detected labels",
    NO_LABELS: "runs: method without labels",
    "reference": "runs: reference (not trained here)",
}


class PlotInputError(ValueError):
    """Figure input that does not fit together (the message says what to pass instead)."""


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _notice_figure(path, title: str, message: str) -> Path:
    """A figure that states why there is nothing to plot (keeps the report complete and honest)."""
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def _grid(n_panels: int, columns: int, panel_size: tuple[float, float]):
    columns = min(columns, n_panels)
    rows = math.ceil(n_panels / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel_size[0] * columns, panel_size[1] * rows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


# ---------------------------------------------------------------- PCA (paper Figure 1)


def _check_panel(index: int, panel) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    if len(panel) != 4:
        raise PlotInputError(f"PCA panel {index} must be (title, embeddings, identities, expression names)")
    title, emb, ids, emo = panel
    emb = np.asarray(emb, dtype=float)
    ids, emo = np.asarray(ids).astype(str), np.asarray(emo).astype(str)
    if emb.ndim != 2 or emb.shape[0] < 2 or emb.shape[1] < 2:
        raise PlotInputError(
            f"PCA panel {title!r}: embeddings must be a 2-D array with at least 2 images and 2 "
            f"dimensions, got shape {emb.shape}"
        )
    if len(ids) != emb.shape[0] or len(emo) != emb.shape[0]:
        raise PlotInputError(
            f"PCA panel {title!r}: {emb.shape[0]} embeddings but {len(ids)} identities and "
            f"{len(emo)} expression names; give one of each per embedding"
        )
    if not np.all(np.isfinite(emb)):
        raise PlotInputError(f"PCA panel {title!r}: embeddings contain NaN or infinite values")
    return str(title), emb, ids, emo


def pca_projection(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of the embeddings and their explained-variance ratios."""
    centred = emb - emb.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    ratio = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    return centred @ vt[:2].T, ratio


def _expression_markers(names: Sequence[str]) -> dict[str, str]:
    markers, spare = {}, list(SPARE_MARKERS)
    for name in names:
        if name in EXPRESSION_MARKERS:
            markers[name] = EXPRESSION_MARKERS[name]
        elif name.lower() in UNKNOWN_EXPRESSIONS:
            markers[name] = UNKNOWN_MARKER
        elif spare:
            markers[name] = spare.pop(0)
        else:
            raise PlotInputError(f"too many expression names outside the vocabulary to give each a marker: {name!r}")
    return markers


def _title_and_layout(fig, title: str) -> None:
    """A figure title with half an inch kept free above the panels, whatever the figure's height."""
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))


def pca_figure(panels: Sequence[tuple], path) -> Path:
    """2-D PCA per panel as in the paper's Figure 1: colour = identity, marker = expression.

    ``panels``: list of (title, embeddings (n, d), identities (n,), expression names (n,)).
    An identity keeps its colour across panels; one legend of expressions is shared.
    """
    if not panels:
        return _notice_figure(path, "PCA of test embeddings", "No test embeddings to show (no successful runs).")
    checked = [_check_panel(i, panel) for i, panel in enumerate(panels)]
    identities = sorted({i for _, _, ids, _ in checked for i in ids})
    colours = dict(zip(identities, sns.color_palette("husl", len(identities))))
    expressions = sorted({e for *_, emo in checked for e in emo}, key=_expression_order)
    markers = _expression_markers(expressions)

    fig, axes = _grid(len(checked), columns=3, panel_size=(4.6, 4.4))
    for ax, (title, emb, ids, emo) in zip(axes, checked):
        points, ratio = pca_projection(emb)
        for expression in expressions:
            chosen = emo == expression
            if chosen.any():
                ax.scatter(
                    points[chosen, 0],
                    points[chosen, 1],
                    c=[colours[i] for i in ids[chosen]],
                    marker=markers[expression],
                    s=36,
                    edgecolors="0.2",
                    linewidths=0.4,
                )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
        ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    handles = [
        Line2D([], [], marker=markers[e], linestyle="none", color="0.3", label=e or "unknown") for e in expressions
    ]
    fig.legend(handles=handles, title="expression", loc="center left", bbox_to_anchor=(1.0, 0.5))
    _title_and_layout(fig, f"PCA of test embeddings: colour = identity ({len(identities)} people), marker = expression")
    return _save(fig, path)


def _expression_order(name: str) -> tuple[int, str]:
    return (EXPRESSIONS.index(name) if name in EXPRESSIONS else len(EXPRESSIONS), name)


# ---------------------------------------------------------------- ROC


def _check_curve(source: str, method: str, curve) -> tuple[np.ndarray, np.ndarray]:
    try:
        far, tar = (np.asarray(values, dtype=float) for values in curve)
    except (TypeError, ValueError) as error:
        raise PlotInputError(f"ROC {source}/{method}: expected a pair (far, tar) of arrays ({error})") from None
    if far.ndim != 1 or far.shape != tar.shape or far.size == 0:
        raise PlotInputError(
            f"ROC {source}/{method}: far and tar must be 1-D arrays of the same length, "
            f"got shapes {far.shape} and {tar.shape}"
        )
    if np.any((far < 0) | (far > 1) | (tar < 0) | (tar > 1)) or not np.all(np.isfinite(far) & np.isfinite(tar)):
        raise PlotInputError(f"ROC {source}/{method}: rates must lie in [0, 1]")
    return far, tar


def roc_figure(curves: Mapping[str, Mapping[str, tuple]], path, references: Sequence[str] = REFERENCES) -> Path:
    """ROC curves, one panel per label source, log-scale false accept rate.

    ``curves``: {label source: {method: (far, tar)}}. Reference methods are dashed
    grey-ish lines; a method keeps its colour across panels.
    """
    if not curves or not any(curves.values()):
        return _notice_figure(path, "ROC on unseen identities", "No ROC curves to show (no successful runs).")
    checked = {
        source: {method: _check_curve(source, method, curve) for method, curve in by_method.items()}
        for source, by_method in curves.items()
    }
    methods = list(dict.fromkeys(m for by_method in checked.values() for m in by_method))
    colours = dict(zip(methods, sns.color_palette("tab10" if len(methods) <= 10 else "husl", len(methods))))
    positive = [
        far[far > 0].min() for by_method in checked.values() for far, _ in by_method.values() if np.any(far > 0)
    ]
    lowest = max(min(positive, default=1e-3), 1e-5)

    fig, axes = _grid(len(checked), columns=3, panel_size=(5.2, 4.4))
    for ax, (source, by_method) in zip(axes, checked.items()):
        for method, (far, tar) in by_method.items():
            shown = far > 0
            style = {"linestyle": "--", "linewidth": 1.3} if method in references else {"linewidth": 1.8}
            ax.plot(far[shown], tar[shown], color=colours[method], label=method, **style)
        grid = np.logspace(np.log10(lowest), 0, 50)
        ax.plot(grid, grid, color="0.6", linestyle=":", linewidth=1, label="chance")
        ax.set_xscale("log")
        ax.set_xlim(lowest, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_title(f"labels: {source}")
        ax.set_xlabel("false accept rate (log scale)")
        ax.set_ylabel("true accept rate")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    _title_and_layout(fig, "ROC on unseen identities (dashed: references, not trained here)")
    return _save(fig, path)


# ---------------------------------------------------------------- per-run points


def run_title(method: str, label_source: str) -> str:
    """How a (method, label source) is named in figures: the label source only where there is one."""
    return method if label_source == NO_LABELS else f"{method} ({label_source})"


def auc_points_figure(
    runs: pd.DataFrame, summary: pd.DataFrame, path, metric: str = "auc", references: Sequence[str] = REFERENCES
) -> Path:
    """Per-run values (points) with the mean and 95% interval of each (method, labels) row.

    Rows follow the summary's order; reference rows (``references`` or a true
    ``reference`` column) are grey.
    """
    title = f"{metric} per run on unseen identities"
    if "status" in runs.columns and not (runs["status"] == "ok").any():
        return _notice_figure(path, title, "No successful runs to show.")
    for table, name, column in ((runs, "runs", metric), (summary, "summary", f"{metric}_mean")):
        if column not in table.columns:
            raise PlotInputError(f"the {name} table has no column {column!r}; pick a metric both tables hold")
    for column in ("method", "labels"):
        if column not in runs.columns or column not in summary.columns:
            raise PlotInputError(f"runs and summary tables need a {column!r} column")
    if summary.empty:
        return _notice_figure(path, title, "No runs to show.")

    order = [run_title(method, label_source) for method, label_source in zip(summary["method"], summary["labels"])]
    ok = runs[runs["status"] == "ok"] if "status" in runs.columns else runs
    points = ok.assign(
        row=[run_title(method, label_source) for method, label_source in zip(ok["method"], ok["labels"])]
    )
    points = points[points["row"].isin(order)]
    kind = _kinds(summary, references)

    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(order) + 1.8))
    palette = {row: LABEL_COLOURS[k] for row, k in zip(order, kind)}
    if not points.empty:
        sns.stripplot(
            data=points,
            x=metric,
            y="row",
            hue="row",
            order=order,
            palette=palette,
            ax=ax,
            jitter=0.15,
            size=5,
            alpha=0.7,
            legend=False,
        )
    for y, (_, row) in enumerate(summary.iterrows()):
        low, high = row.get(f"{metric}_ci95_low", np.nan), row.get(f"{metric}_ci95_high", np.nan)
        if np.isfinite(low) and np.isfinite(high):
            ax.plot([low, high], [y, y], color="black", linewidth=2)
        ax.plot(row[f"{metric}_mean"], y, marker="D", color="black", markersize=6)
        if not np.isfinite(row[f"{metric}_mean"]):
            ax.text(
                0.02,
                y,
                "no successful run",
                transform=ax.get_yaxis_transform(),
                va="center",
                color="firebrick",
                fontsize=8,
            )
    ax.set_yticks(range(len(order)), order)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlabel(metric)
    ax.set_ylabel("method (label source)")
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    handles = [
        Line2D([], [], marker="o", linestyle="none", color=LABEL_COLOURS[k], label=KIND_LEGEND[k])
        for k in dict.fromkeys(kind)
    ]
    handles.append(Line2D([], [], marker="D", color="black", linewidth=2, label="mean and 95% interval"))
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _kinds(summary: pd.DataFrame, references: Sequence[str]) -> list[str]:
    flags = summary["reference"] if "reference" in summary.columns else [False] * len(summary)
    return [
        "reference"
        if (flag or method in references)
        else (label_source if label_source in LABEL_COLOURS else NO_LABELS)
        for method, label_source, flag in zip(summary["method"], summary["labels"], flags)
    ]


# ---------------------------------------------------------------- training curves


def _check_history(name: str, history: pd.DataFrame) -> list[str]:
    if not isinstance(history, pd.DataFrame) or history.empty:
        raise PlotInputError(f"history {name!r} must be a non-empty DataFrame (read history.csv with pandas)")
    absent = [column for column in ("epoch", "val_auc") if column not in history.columns]
    if absent:
        raise PlotInputError(f"history {name!r} lacks columns {absent}; expected epoch, loss terms, val_auc")
    terms = [
        c for c in history.columns if c not in HISTORY_NON_LOSS_COLUMNS and pd.api.types.is_numeric_dtype(history[c])
    ]
    if not terms:
        raise PlotInputError(f"history {name!r} has no loss-term columns beside epoch and val_auc")
    return terms


def training_curves_figure(histories: Mapping[str, pd.DataFrame], path) -> Path:
    """One panel per run: loss terms per epoch (left axis) and validation AUC (right axis, dashed).

    History columns: ``epoch``, ``val_auc`` and one column per loss term (``total``
    drawn thicker); ``seconds`` is ignored.
    """
    title = "Training: loss terms and validation AUC per epoch"
    if not histories:
        return _notice_figure(path, title, "No training histories to show (no successful runs).")
    checked = {name: (history, _check_history(name, history)) for name, history in histories.items()}
    all_terms = list(dict.fromkeys(t for _, terms in checked.values() for t in terms))
    colours = dict(zip(all_terms, sns.color_palette("tab10" if len(all_terms) <= 10 else "husl", len(all_terms))))

    fig, axes = _grid(len(checked), columns=3, panel_size=(5.0, 3.6))
    for ax, (name, (history, terms)) in zip(axes, checked.items()):
        for term in terms:
            ax.plot(
                history["epoch"],
                history[term],
                color=colours[term],
                label=term,
                linewidth=2.4 if term == "total" else 1.4,
            )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss (mean over batches)")
        ax.set_title(name, fontsize=10)
        right = ax.twinx()
        right.plot(
            history["epoch"], history["val_auc"], color="black", linestyle="--", marker=".", label="validation AUC"
        )
        right.set_ylim(0.0, 1.02)
        right.set_ylabel("validation AUC")
        lines = ax.get_legend_handles_labels()
        extra = right.get_legend_handles_labels()
        ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=7, loc="center right")
    _title_and_layout(fig, title)
    return _save(fig, path)


# ---------------------------------------------------------------- power: sizing a study

POWER_AXES = ("fold units", "test people per fold")


def power_figure(curves: pd.DataFrame, metric: str, path) -> Path:
    """The detectable difference (80 % power, at the curves' two-sided ``alpha``: Holm's level for one true
    gain among ``holm_family`` comparisons) of every comparison against fold units and against test people per
    fold (statistics.power_curves), the study's own design circled on each curve. Returns the path; the drawn
    lines carry the comparisons' names as labels."""
    title = f"Smallest detectable difference in {metric}"
    missing = [column for column in POWER_CURVE_COLUMNS if column not in curves.columns]
    if missing:
        raise PlotInputError(f"the power curves lack columns {missing}; build them with statistics.power_curves")
    if curves.empty:
        return _notice_figure(path, title, "No comparison has two fold units with a spread: nothing to size.")
    unknown = sorted(set(curves["axis"]) - set(POWER_AXES))
    if unknown:
        raise PlotInputError(f"unknown power axes {unknown}; expected {list(POWER_AXES)}")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    names = list(dict.fromkeys(curves["comparison"]))
    # ten colours, then the next ten dashed, and so on: a study may hold dozens of comparisons
    colours = dict(zip(names, sns.color_palette("tab10", len(names))))
    styles = {name: ("-", "--", ":", "-.")[(i // 10) % 4] for i, name in enumerate(names)}
    for ax, axis in zip(axes, POWER_AXES):
        for name, curve in curves[curves["axis"] == axis].groupby("comparison", sort=False):
            curve = curve.sort_values("x")
            ax.plot(curve["x"], curve["detectable_diff"], styles[name], color=colours[name], linewidth=1.5, label=name)
            mine = curve[curve["observed"]]
            ax.plot(mine["x"], mine["detectable_diff"], "o", color=colours[name], markersize=8, fillstyle="none")
        ax.set_xlabel(axis + (" (folds x repeats)" if axis == POWER_AXES[0] else ", same fold units"))
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].set_xscale("log")
    people = curves.loc[curves["axis"] == POWER_AXES[1], "x"]
    if not people.empty:  # plain numbers of people on the log axis, not powers of ten
        ticks = np.unique(np.round(np.geomspace(people.min(), people.max(), 6)))
        axes[1].set_xticks(ticks, [f"{tick:g}" for tick in ticks])
        axes[1].xaxis.set_minor_locator(NullLocator())
    axes[0].set_ylabel(f"detectable difference in {metric}")
    axes[0].set_ylim(bottom=0)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", linestyle="none", color="black", fillstyle="none"))
    labels.append("this study's design")
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    family = int(curves["holm_family"].iloc[0])
    level = "two-sided 5 %" if family == 1 else f"two-sided 5 % / {family}, Holm's level for one true gain"
    fig.suptitle(f"{title} (80 % power, {level}, corrected resampled t)")
    fig.tight_layout()
    return _save(fig, path)
