"""The report stage (build.build_results) on hand-made run folders, with answers known in advance.

Run files are written by the evaluate stage's own writers (verification.write_metrics,
verification.save_embeddings), so a change of their format shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import stats

from emoverify.evaluation import verification
from emoverify.layout import Run
from emoverify.report import build
from emoverify.report.settings import ReportSettings
from emoverify.splits.fold_data import FaceSet
from emoverify.vocabulary import EXPRESSIONS

FOLDS = (0, 1, 2)
TL_AUC = (0.80, 0.70, 0.75)
PDP_GAIN = 0.04  # tl_pdp (manual) = tl + 0.04 on every fold: the paired test's known answer
DETECTED_GAIN = -0.01  # tl_pdp (detected) = tl - 0.01
PIXELS_AUC = (0.60, 0.62, 0.58)
AF_AUC = (0.82, 0.74, 0.77)
BASELINES = {"tl": None, "tl_pdp": "tl", "tl_fbv": "tl", "af": None}
RUN_METHODS = ["tl", "tl_pdp", "tl_fbv", "af"]  # tl_fbv is planned but never run
REFERENCES = ["pixels"]
OUTPUT_NAMES = {
    "runs": "tables/runs.csv",
    "summary": "tables/summary.csv",
    "summary_md": "tables/summary.md",
    "significance": "tables/significance.csv",
    "label_comparison": "tables/label_source_comparison.csv",
    "pca": "figures/pca.png",
    "roc": "figures/roc.png",
    "auc": "figures/auc_per_run.png",
    "curves": "figures/training_curves.png",
    "verdict": "tables/verdict.csv",
    "verdict_rst": "tables/verdict.rst",
    "power": "figures/power.png",
    "power_table": "tables/power.csv",
    "training_effect": "tables/training_effect.csv",
}
FIGURES = ("pca", "roc", "auc", "curves", "power")


# ---------------------------------------------------------------- hand-made runs


def clustered_faces(n_people: int, per_person: int, spread: float, seed: int) -> tuple[np.ndarray, FaceSet]:
    """Embeddings around one random centre per person, with the faces (labels) they belong to."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 6))
    ids = np.repeat([f"p{i}" for i in range(n_people)], per_person)
    emb = np.repeat(centres, per_person, axis=0) + spread * rng.normal(size=(len(ids), 6))
    codes = np.tile(np.arange(per_person) % len(EXPRESSIONS), n_people)
    faces = FaceSet(
        image_ids=[f"img{i}" for i in range(len(ids))],
        images=torch.zeros((len(ids), 3, 2, 2), dtype=torch.uint8),
        identities=ids,
        sessions=np.array([""] * len(ids)),
        expressions=codes,
        manual_expressions=codes,
    )
    return emb.astype(np.float32), faces


def run_folder(root, method, labels, fold, seed=0):
    return root / Run(method, labels, fold, seed, reference=method in REFERENCES).path


def write_run(root, method, labels, fold, auc, seed=0):
    """metrics.json, embeddings.npz and history.csv of one run, as the train and evaluate rules write them."""
    folder = run_folder(root, method, labels, fold, seed)
    folder.mkdir(parents=True, exist_ok=True)
    values = {"auc": auc, "eer": 1 - auc, "rank1": auc - 0.1, "tar_at_far_1e-2": None, "notes": []}
    values["n_test_identities"] = 4  # clustered_faces' people
    # af ships its untrained epoch 0 in fold 0, every other trained run a trained epoch
    shipped = 0 if (method, fold) == ("af", 0) else 2
    extra = {"reference": True} if method in REFERENCES else {"training": {"best_epoch": shipped, "epochs_run": 3}}
    run = Run(method, labels, fold, seed, reference=method in REFERENCES)
    verification.write_metrics(
        folder / "metrics.json",
        run,
        geometry="spherical",
        values=values,
        extra=extra,
    )
    emb, faces = clustered_faces(4, 3, spread=1.0 - auc, seed=100 * fold + seed)
    verification.save_embeddings(folder / "embeddings.npz", emb, faces, run, metric="cosine")
    pd.DataFrame(
        {"epoch": [1, 2], "total": [1.0, 0.5], "triplet": [1.0, 0.5], "val_auc": [0.6, auc], "seconds": [1.0, 1.0]}
    ).to_csv(folder / "history.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """tl, af (no labels), tl_pdp with manual and detected labels, the pixel reference; 3 folds, seed 0.

    tl_pdp (detected) fold 2 failed: its folder exists but holds nothing. tl_fbv is planned, never run.
    """
    root = tmp_path_factory.mktemp("study")
    folders = []
    for fold, tl, af, pixels in zip(FOLDS, TL_AUC, AF_AUC, PIXELS_AUC):
        folders.append(write_run(root, "pixels", "none", fold, pixels))
        folders.append(write_run(root, "tl", "none", fold, tl))
        folders.append(write_run(root, "af", "none", fold, af))
        folders.append(write_run(root, "tl_pdp", "manual", fold, tl + PDP_GAIN))
        if fold < 2:
            folders.append(write_run(root, "tl_pdp", "detected", fold, tl + DETECTED_GAIN))
    failed = run_folder(root, "tl_pdp", "detected", 2)
    failed.mkdir(parents=True)
    outputs = {key: str(root / "report" / name) for key, name in OUTPUT_NAMES.items()}
    for folder in ("tables", "figures"):
        (root / "report" / folder).mkdir(parents=True)
    runs = build.build_results(
        ReportSettings(baselines=BASELINES, run_methods=RUN_METHODS, references=REFERENCES),
        metrics_paths=[folder / "metrics.json" for folder in folders + [failed]],
        embedding_paths=[folder / "embeddings.npz" for folder in folders + [failed]],
        history_paths=[folder / "history.csv" for folder in folders if "references" not in folder.parts],
        outputs=outputs,
    )
    return {"root": root, "outputs": outputs, "runs": runs}


TL_ONLY = ReportSettings(baselines={"tl": None}, run_methods=["tl"], references=[])


def read_table(study, name) -> pd.DataFrame:
    return pd.read_csv(study["outputs"][name], keep_default_na=False, na_values=[""])


def summary_row(table, method, labels):
    row = table[(table["method"] == method) & (table["labels"] == labels)]
    assert len(row) == 1, f"expected one summary row for {method} ({labels}), got {len(row)}"
    return row.iloc[0]


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize(
    "method, labels, folders",
    [
        ("tl", "none", ("runs/tl/none",)),
        ("tl_pdp", "manual", ("runs/tl_pdp/manual",)),
        ("tl_pdp", "detected", ("runs/tl_pdp/detected",)),
        ("pixels", "none", ("references/pixels",)),
    ],
)
def test_summary_statistics_match_an_independent_computation(study, method, labels, folders):
    values = []
    for folder in folders:
        for path in sorted((study["root"] / folder).glob("repeat*/fold*/seed*/metrics.json")):
            values.append(json.loads(path.read_text())["metrics"]["auc"])
    n = len(values)
    mean, sem = np.mean(values), stats.sem(values)
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=sem)
    low, high = max(low, 0.0), min(high, 1.0)  # an AUC interval is clipped to [0, 1]
    row = summary_row(read_table(study, "summary"), method, labels)
    assert row["n_runs"] == n == row["auc_n"] == row["n_units"]  # one seed: a run is a fold unit
    assert row["auc_mean"] == pytest.approx(mean)
    assert row["auc_sd"] == pytest.approx(np.std(values, ddof=1))
    assert (row["auc_ci95_low"], row["auc_ci95_high"]) == pytest.approx((low, high))


def test_a_metric_no_run_could_compute_is_absent_not_nan(study):
    table = read_table(study, "summary")
    assert not any(column.startswith("tar_at_far_1e-2") for column in table.columns)
    assert summary_row(table, "tl", "none")["rank1_mean"] == pytest.approx(np.mean(TL_AUC) - 0.1)


def test_failed_run_is_reported_missing_and_left_out_of_the_statistics(study):
    table = read_table(study, "summary")
    row = summary_row(table, "tl_pdp", "detected")
    assert (row["n_runs"], row["n_missing"]) == (2, 1)
    assert "no metrics.json" in row["missing_reasons"]
    assert row["auc_mean"] == pytest.approx(np.mean(TL_AUC[:2]) + DETECTED_GAIN)
    assert (table.loc[table["method"] != "tl_pdp", "n_missing"] == 0).all()
    runs = read_table(study, "runs")
    failed = runs[runs["status"] != "ok"]
    assert len(failed) == 1 and (failed.iloc[0]["method"], failed.iloc[0]["fold"]) == ("tl_pdp", 2)
    assert "2 (2), 1 missing" in (study["root"] / "report" / OUTPUT_NAMES["summary_md"]).read_text()


def test_method_that_was_not_run_is_absent(study):
    for name in ("summary", "runs", "significance"):
        assert "tl_fbv" not in set(read_table(study, name)["method"]), name


def test_summary_rows_follow_references_then_run_methods(study):
    table = read_table(study, "summary")
    assert list(zip(table["method"], table["labels"])) == [
        ("pixels", "none"),
        ("tl", "none"),
        ("tl_pdp", "detected"),
        ("tl_pdp", "manual"),
        ("af", "none"),
    ]
    assert table.set_index("method").loc["pixels", "reference"]
    assert not table.set_index("method").loc["tl", "reference"]


def test_significance_finds_the_known_constant_difference(study):
    table = read_table(study, "significance")
    auc = table[table["metric"] == "auc"].set_index("labels")
    assert set(table["method"]) == {"tl_pdp"} and set(table["baseline"]) == {"tl"}
    manual = auc.loc["manual"]
    assert manual["baseline_labels"] == "none" and manual["n_units"] == 3
    assert manual["mean_diff"] == pytest.approx(PDP_GAIN)
    assert (manual["ci95_low"], manual["ci95_high"]) == pytest.approx((PDP_GAIN, PDP_GAIN))
    # three positive differences: the exact two-sided signed-rank p is 2 / 2**3
    assert manual["wilcoxon_p"] == pytest.approx(0.25)
    detected = auc.loc["detected"]
    assert detected["n_units"] == 2 and detected["mean_diff"] == pytest.approx(DETECTED_GAIN)


def test_label_sources_are_compared_on_shared_folds(study):
    table = read_table(study, "label_comparison")
    auc = table[table["metric"] == "auc"]
    assert list(auc["method"]) == ["tl_pdp"]
    assert auc.iloc[0]["n_units"] == 2
    assert auc.iloc[0]["mean_diff"] == pytest.approx(PDP_GAIN - DETECTED_GAIN)


def test_verdict_and_power_tables_read_the_significance_table(study):
    """The lead metric here is rank-1 (the runs have no TAR at FAR 1e-2): tl_pdp with manual labels gains
    PDP_GAIN on every fold (a yes), with detected labels it loses DETECTED_GAIN on both folds it ran."""
    answer = read_table(study, "verdict")
    comparisons = answer[answer["row"] == "comparison"].set_index("labels")
    assert set(comparisons["method"]) == {"tl_pdp"} and set(comparisons["baseline"]) == {"tl"}
    assert comparisons.loc["manual", "difference"] == pytest.approx(PDP_GAIN)
    assert comparisons.loc["manual", "finding"] == "gain"
    assert comparisons.loc["detected", "finding"] == "below baseline"
    assert comparisons.loc["manual", "baseline_mean"] == pytest.approx(np.mean(TL_AUC) - 0.1)
    references = answer[answer["row"] == "reference"]
    assert list(references["method"]) == ["pixels"]
    assert references.iloc[0]["mean"] == pytest.approx(np.mean(PIXELS_AUC) - 0.1)
    page = Path(study["outputs"]["verdict_rst"]).read_text()
    assert page.startswith("**Verdict** (rank-1, method minus its matched baseline over fold units): this study: yes:")
    assert "tl\\_pdp (manual labels) beats its baseline tl by 0.040 rank-1" in page
    power = read_table(study, "power_table")
    observed = power[power["observed"]]
    # each comparison's own design: 3 (manual) or 2 (detected) fold units, 4 test people per fold
    assert sorted(zip(observed["comparison"], observed["axis"], observed["x"])) == [
        ("tl_pdp (detected) - tl", "fold units", 2),
        ("tl_pdp (detected) - tl", "test people per fold", 4),
        ("tl_pdp (manual) - tl", "fold units", 3),
        ("tl_pdp (manual) - tl", "test people per fold", 4),
    ]
    assert power["detectable_diff"].abs().max() < 1e-9  # constant differences: no spread, any gain is seen


def test_the_training_effect_table_gives_each_methods_trained_share_and_its_start(study):
    """No untrained reference ran here: each method's share of trained epochs, its start named, not tested."""
    trained = read_table(study, "training_effect")
    shares = trained.drop_duplicates(["method", "labels"]).set_index(["method", "labels"])
    assert list(shares.index) == [("tl", "none"), ("tl_pdp", "detected"), ("tl_pdp", "manual"), ("af", "none")]
    assert list(shares["n_runs"]) == [3, 2, 3, 3] and list(shares["runs_trained"]) == [3, 2, 3, 2]
    assert shares.loc[("af", "none"), "share_trained"] == pytest.approx(2 / 3)
    assert list(shares["baseline"]) == [True, False, False, False]  # tl is tl_pdp's baseline; af has no method
    assert set(trained["start"]) == {"untrained"} and set(trained["finding"]) == {"not tested"}
    assert set(trained["metric"]) == {"rank1", "auc"}  # the lead metric, then AUC
    page = Path(study["outputs"]["verdict_rst"]).read_text()
    assert "Training: 10 of 11 runs ship a trained epoch (the others their untrained epoch 0)." in page


def test_figures_are_written_as_real_pngs(study):
    for name in FIGURES:
        path = study["outputs"][name]
        with Image.open(path) as image:
            assert image.format == "PNG", name
            width, height = image.size
        # the "nothing to show" notice is a single small panel; real figures are larger
        assert width > 700 and height > 250, (name, image.size)
        assert (study["root"] / "report" / OUTPUT_NAMES[name]).stat().st_size > 10_000, name


def test_report_without_any_successful_run_still_writes_every_output(tmp_path):
    missing = tmp_path / Run("tl", "none", 0, 0).path
    outputs = {key: str(tmp_path / "report" / name.replace("/", "_")) for key, name in OUTPUT_NAMES.items()}
    (tmp_path / "report").mkdir()
    runs = build.build_results(
        TL_ONLY,
        metrics_paths=[missing / "metrics.json"],
        embedding_paths=[missing / "embeddings.npz"],
        history_paths=[],
        outputs=outputs,
    )
    assert list(runs["status"].str.startswith("missing")) == [True]
    row = pd.read_csv(outputs["summary"]).iloc[0]
    assert (row["method"], row["n_runs"], row["n_missing"]) == ("tl", 0, 1)
    for name in FIGURES:
        with Image.open(outputs[name]) as image:
            assert image.format == "PNG"


def test_failed_first_run_without_history_does_not_crash_the_report(tmp_path):
    done = write_run(tmp_path, "tl", "none", 1, 0.8)
    failed = run_folder(tmp_path, "tl", "none", 0)
    outputs = {key: str(tmp_path / name.replace("/", "_")) for key, name in OUTPUT_NAMES.items()}
    build.build_results(
        TL_ONLY,
        metrics_paths=[done / "metrics.json", failed / "metrics.json"],
        embedding_paths=[done / "embeddings.npz", failed / "embeddings.npz"],
        history_paths=[done / "history.csv", failed / "history.csv"],
        outputs=outputs,
    )
    assert pd.read_csv(outputs["summary"]).iloc[0]["n_missing"] == 1


# ---------------------------------------------------------------- embeddings as the evaluate rule saves them


def test_saved_embeddings_load_back_with_their_labels(tmp_path):
    emb, faces = clustered_faces(3, 2, spread=0.1, seed=0)
    verification.save_embeddings(tmp_path / "e.npz", emb, faces, Run("tl", "none", 1, 2), metric="cosine")
    record = build.load_embeddings(tmp_path / "e.npz")
    assert (record["method"], record["labels"], record["fold"], record["seed"], record["metric"]) == (
        "tl",
        "none",
        1,
        2,
        "cosine",
    )
    np.testing.assert_array_equal(record["embeddings"], emb)
    assert list(record["identity"]) == list(faces.identities)
    np.testing.assert_array_equal(record["expression_manual"], faces.manual_expressions)


def test_embeddings_of_a_fold_read_from_a_table_load_back(tmp_path):
    emb, faces = clustered_faces(3, 2, spread=0.1, seed=0)
    table = pd.DataFrame({"identity": faces.identities, "session": faces.sessions})
    faces.identities = table["identity"].astype(str).to_numpy()  # what fold_faces does
    faces.sessions = table["session"].fillna("").astype(str).to_numpy()
    verification.save_embeddings(tmp_path / "e.npz", emb, faces, Run("tl", "none", 0, 0), metric="cosine")
    assert list(build.load_embeddings(tmp_path / "e.npz")["identity"]) == list(faces.identities)


# ---------------------------------------------------------------- panels, curves, histories


def record(method, labels, fold, seed, *, manual_known=True, marker=0.0):
    emb, faces = clustered_faces(3, 3, spread=0.2, seed=fold * 10 + seed)
    detected = np.full(len(emb), EXPRESSIONS.index("happiness"))
    return {
        "embeddings": emb + marker,
        "identity": faces.identities,
        "session": faces.sessions,
        "expression": detected,
        "expression_manual": faces.manual_expressions if manual_known else np.full(len(emb), -1),
        "method": method,
        "labels": labels,
        "repeat": 0,
        "fold": fold,
        "seed": seed,
        "metric": "cosine",
    }


def test_pca_panels_use_the_first_fold_and_seed_and_the_preferred_label_source():
    records = [
        record("tl", "none", 1, 0, marker=10),
        record("tl", "none", 0, 1, marker=1),
        record("tl", "none", 0, 0),
        record("tl_pdp", "detected", 0, 0, marker=2),
        record("tl_pdp", "manual", 0, 0, marker=3),
        record("tl_fbv", "detected", 0, 0, manual_known=False, marker=4),
        record("af", "none", 1, 0),  # no run at the shared fold and seed: its own first one, titled so
        record("tl_mtl", "manual", 0, 0),  # not asked for
    ]
    panels = build.pca_panels(records, ["tl_fbv", "tl", "tl_pdp", "af"])
    titles = [title for title, *_ in panels]
    assert titles == [
        "tl_fbv (detected), fold 0 seed 0",
        "tl, fold 0 seed 0",
        "tl_pdp (manual), fold 0 seed 0",
        "af, fold 1 seed 0",
    ]
    by_title = {title: (emb, ids, names) for title, emb, ids, names in panels}
    np.testing.assert_array_equal(by_title["tl, fold 0 seed 0"][0], records[2]["embeddings"])
    np.testing.assert_array_equal(by_title["tl_pdp (manual), fold 0 seed 0"][0], records[4]["embeddings"])
    manual_names = [EXPRESSIONS[code] for code in records[4]["expression_manual"]]
    assert by_title["tl_pdp (manual), fold 0 seed 0"][2] == manual_names
    # without manual codes the panel falls back to the codes the run trained with
    assert set(by_title["tl_fbv (detected), fold 0 seed 0"][2]) == {"happiness"}
    assert build.pca_panels([], ["tl"]) == []


def test_pca_panels_keep_the_same_first_people_in_every_panel():
    records = [record("tl", "none", 0, 0), record("tl_pdp", "manual", 0, 0, marker=3)]
    people = sorted(set(records[0]["identity"]))
    assert len(people) == 3
    panels = build.pca_panels(records, ["tl", "tl_pdp"], max_identities=2)
    for (title, emb, ids, names), source in zip(panels, records):
        assert title.endswith(", 2 of 3 people")
        assert sorted(set(ids)) == people[:2]
        keep = np.isin(source["identity"], people[:2])
        np.testing.assert_array_equal(emb, source["embeddings"][keep])
        assert len(names) == len(ids) == keep.sum()
    unlimited = build.pca_panels(records, ["tl"], max_identities=3)
    assert unlimited[0][0] == "tl, fold 0 seed 0" and len(unlimited[0][2]) == len(records[0]["identity"])


def n_negative_pairs(ids) -> int:
    _, counts = np.unique(ids, return_counts=True)
    n = len(ids)
    return n * (n - 1) // 2 - int(sum(c * (c - 1) // 2 for c in counts))


def test_mean_roc_grid_starts_at_a_measurable_false_accept_rate_and_rises():
    small, large = record("tl", "none", 0, 0), record("tl", "none", 1, 0)
    emb, faces = clustered_faces(6, 4, spread=1.5, seed=7)  # overlapping people: a curved ROC
    large.update(embeddings=emb, identity=faces.identities, session=faces.sessions)
    grid, tar = build.mean_roc([small, large])
    assert grid[0] >= max(1 / n_negative_pairs(r["identity"]) for r in (small, large)) - 1e-12
    assert grid[-1] == pytest.approx(1.0) and tar[-1] == pytest.approx(1.0)
    assert np.all(np.diff(grid) > 0) and np.all(np.diff(tar) >= -1e-12)
    assert 0 < tar[0] < 1


def test_mean_roc_of_perfectly_separated_people_accepts_everyone_at_the_lowest_rate():
    ids = np.repeat(["a", "b", "c", "d"], 3)
    jitter = 0.01 * np.random.default_rng(0).normal(size=(12, 4))  # distinct scores for the negative pairs
    emb = np.repeat(np.eye(4), 3, axis=0) + jitter
    separated = {"embeddings": emb, "identity": ids, "session": np.array([""] * 12), "metric": "cosine"}
    grid, tar = build.mean_roc([separated])
    assert grid[0] == pytest.approx(1 / n_negative_pairs(ids))
    np.testing.assert_allclose(tar, 1.0)


def test_roc_curves_show_label_free_methods_in_every_panel():
    records = [
        record("tl", "none", 0, 0),
        record("tl_pdp", "manual", 0, 0),
        record("tl_pdp", "detected", 0, 0),
        record("pixels", "none", 0, 0),
    ]
    curves = build.roc_curves(records, ["manual", "detected"])
    assert set(curves) == {"manual", "detected"}
    assert set(curves["manual"]) == set(curves["detected"]) == {"tl", "tl_pdp", "pixels"}
    np.testing.assert_array_equal(curves["manual"]["tl"][1], curves["detected"]["tl"][1])


def test_first_histories_pick_fold0_seed0_of_each_method_and_label_source(tmp_path):
    paths = []
    for method, labels, fold, seed in [
        ("tl", "none", 1, 0),
        ("tl", "none", 0, 1),
        ("tl", "none", 0, 0),
        ("tl_pdp", "manual", 2, 0),
        ("tl_pdp", "manual", 1, 3),
        ("tl_pdp", "detected", 0, 0),
    ]:
        folder = run_folder(tmp_path, method, labels, fold, seed)
        folder.mkdir(parents=True)
        pd.DataFrame(
            {"epoch": [1], "total": [10 * fold + seed], "triplet": [0.0], "val_auc": [0.5], "seconds": [1.0]}
        ).to_csv(folder / "history.csv", index=False)
        paths.append(folder / "history.csv")
    histories = build.first_histories(paths)
    assert {name: int(h["total"].iloc[0]) for name, h in histories.items()} == {
        "tl": 0,
        "tl_pdp (manual)": 13,
        "tl_pdp (detected)": 0,
    }


def test_a_run_its_test_split_cannot_score_is_a_missing_row_with_its_reason(tmp_path):
    """One test person (a degenerate fold): evaluation records why, and the report neither crashes nor draws it."""
    good = write_run(tmp_path, "tl", "none", 0, 0.8)
    lonely = run_folder(tmp_path, "tl", "none", 1)
    lonely.mkdir(parents=True)
    emb, faces = clustered_faces(1, 4, spread=0.1, seed=0)
    outputs = type("Outputs", (), {"embeddings": lonely / "embeddings.npz", "metrics": lonely / "metrics.json"})
    values = verification.score_and_save(
        {"test": emb, "val": emb[:0]},
        {"test": faces, "val": faces.subset(np.zeros(len(faces), dtype=bool))},
        Run("tl", "none", 1, 0),
        geometry="spherical",
        evaluation={"exclude_same_session": True, "rank1_draws": 2},
        outputs=outputs,
    )
    assert values == {}
    outputs = {key: str(tmp_path / "report" / name) for key, name in OUTPUT_NAMES.items()}
    for folder in ("tables", "figures"):
        (tmp_path / "report" / folder).mkdir(parents=True)
    runs = build.build_results(
        TL_ONLY,
        metrics_paths=[good / "metrics.json", lonely / "metrics.json"],
        embedding_paths=[good / "embeddings.npz", lonely / "embeddings.npz"],
        history_paths=[good / "history.csv"],
        outputs=outputs,
    )
    row = runs[runs["fold"] == 1].iloc[0]
    assert row["status"].startswith("missing: not scored: the fold's test split has 1 identities")
    assert "lower folds" in row["status"]
    assert runs.loc[runs["fold"] == 0, "status"].tolist() == ["ok"]
    assert (tmp_path / "report" / "figures" / "roc.png").stat().st_size > 10_000


def test_runs_without_negative_pairs_draw_no_roc_curve():
    emb, faces = clustered_faces(1, 4, spread=0.1, seed=0)
    record = {"embeddings": emb, "identity": faces.identities, "session": faces.sessions, "metric": "cosine"}
    assert not build.has_roc(record)
    emb, faces = clustered_faces(3, 3, spread=0.1, seed=0)
    assert build.has_roc({**record, "embeddings": emb, "identity": faces.identities, "session": faces.sessions})
