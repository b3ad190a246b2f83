"""The report stage: gather every run's files into tables and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from emoverify import metrics, plain_arrays
from emoverify.layout import parse_run_dir
from emoverify.registry import LABEL_SOURCES, NO_LABELS
from emoverify.report import comparisons, plots, runs_table, statistics, training_effect, verdict
from emoverify.report.plots import run_title
from emoverify.report.settings import ReportSettings
from emoverify.tuning import winners
from emoverify.tuning.grid import is_candidate, parent_method
from emoverify.vocabulary import EXPRESSIONS


def load_embeddings(path) -> dict:
    record = plain_arrays.load_npz(path)
    for key in ("method", "labels", "metric", "failed"):
        if key not in record:
            continue
        record[key] = str(record[key])
    for key in ("fold", "seed"):
        record[key] = int(record[key])
    record["repeat"] = int(record["repeat"]) if "repeat" in record else 0
    return record


def expression_names(codes: np.ndarray) -> list[str]:
    return [EXPRESSIONS[code] if code >= 0 else "unknown" for code in codes]


def pca_panels(records: list[dict], methods: list[str], max_identities: int | None = None) -> list[tuple]:
    """One panel per method (in the given order), as in the paper's Figure 1.

    All panels share the first fold and seed of the requested methods; a method whose run there is missing
    shows its own first fold and seed instead of disappearing (the panel title says which).
    ``max_identities`` keeps the first people (sorted by identity, so the same people in every panel of a
    fold) and fits the PCA to them alone: with dozens of test people the figure is unreadable otherwise.
    """
    wanted = [r for r in records if r["method"] in methods]
    if not wanted:
        return []
    shared = min((r["repeat"], r["fold"], r["seed"]) for r in wanted)

    def preference(record):
        return (
            (record["repeat"], record["fold"], record["seed"]) != shared,
            (record["repeat"], record["fold"], record["seed"]),
            LABEL_SOURCES.index(record["labels"]),
        )

    panels = []
    for method in methods:
        candidates = [r for r in wanted if r["method"] == method]
        if not candidates:
            continue
        record = min(candidates, key=preference)
        codes = record["expression_manual"] if (record["expression_manual"] >= 0).any() else record["expression"]
        title = run_title(method, record["labels"])
        title = f"{title}, fold {record['fold']} seed {record['seed']}"
        keep = np.ones(len(record["identity"]), dtype=bool)
        people = np.unique(record["identity"])
        if max_identities is not None and len(people) > max_identities:
            keep = np.isin(record["identity"], people[:max_identities])
            title += f", {max_identities} of {len(people)} people"
        panels.append((title, record["embeddings"][keep], record["identity"][keep], expression_names(codes[keep])))
    return panels


def negative_pair_count(identities: np.ndarray) -> int:
    _, sizes = np.unique(identities, return_counts=True)
    n = int(sizes.sum())
    return n * (n - 1) // 2 - int((sizes * (sizes - 1) // 2).sum())


def mean_roc(records: list[dict], n_points: int = 200, exclude_same_session: bool = True):
    """TAR averaged over runs on a common log grid of false accept rates.

    The grid starts at the smallest FAR every run can resolve (one negative pair in the run with the
    fewest), so no flat, extrapolated stretch is drawn below what the data measure.
    """
    curves = []
    for record in records:
        sessions = record["session"] if exclude_same_session else None
        curves.append(
            metrics.roc_points(record["embeddings"], record["identity"], metric=record["metric"], sessions=sessions)
        )
    smallest = max(1.0 / max(negative_pair_count(record["identity"]), 1) for record in records)
    grid = np.logspace(np.log10(smallest), 0, n_points)
    return grid, np.mean([np.interp(grid, far, tar) for far, tar in curves], axis=0)


def roc_curves(records: list[dict], label_sources: list[str], exclude_same_session: bool = True) -> dict:
    """Per label source, the mean ROC of every method; label-free methods and references appear in every panel."""
    curves: dict[str, dict] = {}
    for source in label_sources:
        by_method: dict[str, list] = {}
        for record in records:
            if record["labels"] in (source, NO_LABELS) and has_roc(record, exclude_same_session):
                by_method.setdefault(record["method"], []).append(record)
        curves[source] = {
            method: mean_roc(group, exclude_same_session=exclude_same_session) for method, group in by_method.items()
        }
    return curves


def has_roc(record: dict, exclude_same_session: bool = True) -> bool:
    """Whether a run's test embeddings give positive and negative pairs (a run without them is a row of the
    runs table with its reason, and no curve)."""
    sessions = record["session"] if exclude_same_session else None
    try:
        metrics.roc_points(record["embeddings"], record["identity"], metric=record["metric"], sessions=sessions)
    except metrics.MetricsInputError:
        return False
    return True


def first_histories(history_paths, method_order: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The history of the first fold and seed of each (method, labels) that trained at least one epoch,
    in the order of `method_order` (alphabetical otherwise)."""
    chosen: dict[str, tuple] = {}
    for path in map(Path, history_paths):
        run = parse_run_dir(path)
        if run is None or not path.is_file() or path.stat().st_size == 0:
            continue
        history = pd.read_csv(path)
        if history.empty:
            continue
        name = run_title(parent_method(run.method), run.label_source)  # a tuning candidate shows as its method
        key = (run.repeat, run.fold, run.seed)
        if name not in chosen or key < chosen[name][0]:
            chosen[name] = (key, history)
    rank = {method: index for index, method in enumerate(method_order or [])}
    names = sorted(chosen, key=lambda name: (rank.get(name.split(" ")[0], len(rank)), name))
    return {name: chosen[name][1] for name in names}


def order_rows(table: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    rank = {name: index for index, name in enumerate(order)}
    return (
        table.assign(_rank=table["method"].map(lambda m: rank.get(m, len(rank))))
        .sort_values(["_rank", "labels"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def _selected(unit: tuple, chosen: dict) -> bool:
    """Whether a run of ``unit`` (method, labels, repeat, fold) is a selected candidate's (``chosen``:
    winners.winner_names), or no candidate at all."""
    return not is_candidate(unit[0]) or unit in chosen


def _history_selected(path, chosen: dict) -> bool:
    run = parse_run_dir(path)
    return run is not None and _selected((run.method, run.label_source, run.repeat, run.fold), chosen)


def _unit(record: dict) -> tuple:
    return record["method"], record["labels"], record["repeat"], record["fold"]


def _as_method(record: dict, chosen: dict) -> dict:
    """An embeddings record of a selected candidate under its method's name."""
    return {**record, "method": chosen[_unit(record)]} if is_candidate(record["method"]) else record


def summary_line(runs: pd.DataFrame, summary_path) -> str:
    """One console line: runs scored, and the missing ones with their most common reasons."""
    missing = runs[runs["status"] != "ok"]
    text = f"report: {len(runs) - len(missing):,} of {len(runs):,} runs scored"
    if len(missing):
        reasons = missing["status"].value_counts().head(3)
        text += f", {len(missing):,} missing ({'; '.join(f'{n} x {reason}' for reason, n in reasons.items())})"
    return f"{text}; see {summary_path}"


def build_results(
    settings: ReportSettings,
    *,
    metrics_paths,
    embedding_paths,
    history_paths,
    outputs,
    selection_paths=(),
) -> pd.DataFrame:
    """Write every table and figure of the report stage as ``settings`` say; returns the per-run table.

    The verdict (``verdict``, ``verdict_rst``: the report's first page, its sentence naming the settings'
    dataset) and the power figure (``power``, with its data in ``power_table``) read the significance table.

    ``selection_paths`` (a tuned study): each unit keeps only its selected candidate's runs, under the method's
    name; the other candidates reach the tuning report, not these tables.
    """
    order = list(settings.order)
    exclude_same_session = settings.exclude_same_session
    runs = runs_table.collect_runs(metrics_paths)
    selections = winners.read_selections(selection_paths)
    if selections:
        runs = winners.winning_runs(runs, selections)
        chosen = winners.winner_names(selections)
        history_paths = [path for path in history_paths if _history_selected(path, chosen)]
    runs = order_rows(runs, order)
    runs.to_csv(outputs["runs"], index=False)
    table = write_tables(settings, runs, outputs)

    records = [load_embeddings(path) for path in embedding_paths if Path(path).is_file()]
    records = [record for record in records if "failed" not in record]
    if selections:
        records = [_as_method(record, chosen) for record in records if _selected(_unit(record), chosen)]
    plots.pca_figure(
        pca_panels(records, list(settings.pca_methods) or order, settings.pca_max_identities), outputs["pca"]
    )
    sources = sorted({r["labels"] for r in records if r["labels"] != NO_LABELS}) or [NO_LABELS]
    plots.roc_figure(roc_curves(records, sources, exclude_same_session), outputs["roc"])
    plots.auc_points_figure(runs, table, outputs["auc"])
    plots.training_curves_figure(first_histories(history_paths, order), outputs["curves"])
    return runs


def write_tables(settings: ReportSettings, runs: pd.DataFrame, outputs) -> pd.DataFrame:
    """Every table the report derives from the runs table alone (``runs``, already in report order): summary
    (csv and Markdown), significance, label sources, training effect, verdict (csv and its page) and power (csv
    and figure); returns the summary. A committed study's tables rebuild from its runs.csv through this
    (emoverify.rebuild)."""
    test_share = settings.test_share
    table = order_rows(statistics.summarize(runs, test_share=test_share), list(settings.order))
    table.to_csv(outputs["summary"], index=False)
    Path(outputs["summary_md"]).write_text(statistics.to_markdown(table) + "\n")
    pairs = {method: base for method, base in settings.baselines.items() if base}
    tests = comparisons.significance(runs, pairs, test_share=test_share)
    tests.to_csv(outputs["significance"], index=False)
    comparisons.label_source_comparison(runs, test_share=test_share).to_csv(outputs["label_comparison"], index=False)
    metric = verdict.lead_metric(tests)
    trained = training_effect.training_effect(
        runs, table, settings.run_methods, set(pairs.values()), [metric, "auc"], test_share, settings.starts
    )
    trained.to_csv(outputs["training_effect"], index=False)
    write_verdict(tests, table, settings.references, settings.dataset, outputs, trained)
    write_power(runs, tests, test_share, outputs)
    return table


def write_verdict(
    tests: pd.DataFrame, table: pd.DataFrame, references, dataset: str, outputs, trained: pd.DataFrame
) -> None:
    """The verdict table (csv) and the report's first page (rst): lead metric, references beside, and what
    training did (``trained``: the training-effect table)."""
    metric = verdict.lead_metric(tests)
    answer = verdict.verdict_table(tests, table, references, metric)
    answer.to_csv(outputs["verdict"], index=False)
    sentence = verdict.verdict_sentence(answer, dataset, metric)
    training = training_effect.training_sentence(trained, verdict.METRIC_NAMES)
    Path(outputs["verdict_rst"]).write_text(verdict.verdict_rst(answer, sentence, metric, training))


def mean_test_people(runs: pd.DataFrame) -> float:
    """Mean number of test people over the (repeat, fold) units with an ok run that counted them; NaN without."""
    if "n_test_identities" not in runs:
        return float("nan")
    ok = runs[(runs["status"] == "ok") & runs["n_test_identities"].notna()]
    people = ok.groupby(runs_table.UNIT)["n_test_identities"].first()
    return float(np.mean(people.to_numpy(dtype=float))) if len(people) else float("nan")


def write_power(runs: pd.DataFrame, tests: pd.DataFrame, test_share: float, outputs) -> None:
    """Detectable difference of every comparison on the lead metric against the design (table and figure), at
    the Holm level of the lead metric's family; comparisons identical to their baseline in every unit are left
    out (their zero is no power)."""
    metric = verdict.lead_metric(tests)
    ok = runs[runs["status"] == "ok"]
    folds, repeats = max(ok["fold"].nunique(), 2), max(ok["repeat"].nunique(), 1)
    people = mean_test_people(runs)
    units, people_grid = statistics.design_grid(folds, repeats, people)
    lead = tests[tests["metric"] == metric]
    lead = lead[~lead.apply(comparisons.identical_in_every_unit, axis=1).astype(bool)] if len(lead) else lead
    family = int(lead["holm_family"].max()) if lead["holm_family"].notna().any() else 1
    curves = statistics.power_curves(
        lead, test_share=test_share, test_people=people, units=units, people=people_grid, holm_family=family
    )
    curves.to_csv(outputs["power_table"], index=False)
    plots.power_figure(curves, verdict.metric_name(metric), outputs["power"])
