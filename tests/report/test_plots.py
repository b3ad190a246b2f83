"""Figures: readable PNGs from consistent input, clear errors from inconsistent input."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from report_runs import write_run
from sklearn.decomposition import PCA

from emoverify.layout import Run
from emoverify.report import plots, runs_table, statistics
from emoverify.report.plots import PlotInputError


def assert_plausible_png(path, min_width=400, min_height=200):
    assert path.is_file() and path.stat().st_size > 5_000
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert width >= min_width and height >= min_height
    assert image[..., :3].std() > 0.01  # something was drawn


def clustered(n_ids=6, per_id=5, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"person{i}" for i in range(n_ids)], per_id)
    emb = np.repeat(rng.normal(size=(n_ids, dim)) * 3, per_id, axis=0) + rng.normal(size=(ids.size, dim))
    expressions = np.array(["anger", "happiness", "neutral", "", "surprise"] * n_ids)
    return emb, ids, expressions


def test_pca_projection_matches_sklearn():
    emb, _, _ = clustered()
    points, ratio = plots.pca_projection(emb)
    reference = PCA(n_components=2).fit(emb)
    assert ratio == pytest.approx(reference.explained_variance_ratio_)
    expected = reference.transform(emb)
    for k in range(2):  # components are defined up to sign
        assert np.abs(points[:, k]) == pytest.approx(np.abs(expected[:, k]), abs=1e-8)


def test_pca_figure(tmp_path):
    emb, ids, expressions = clustered()
    path = plots.pca_figure(
        [("tl", emb, ids, expressions), ("tl_fbv", emb * 2, ids, expressions)], tmp_path / "figures" / "pca.png"
    )
    assert_plausible_png(path, min_width=800)


@pytest.mark.parametrize(
    "panel, message",
    [
        (("x", np.ones((5, 3)), ["a"] * 4, ["anger"] * 5), "5 embeddings but 4 identities"),
        (("x", np.ones((5, 3)), ["a"] * 5, ["anger"] * 6), "6 expression names"),
        (("x", np.ones(5), ["a"] * 5, ["anger"] * 5), "2-D array"),
        (("x", np.ones((5, 1)), ["a"] * 5, ["anger"] * 5), "2 dimensions"),
        (("x", np.ones((5, 3))), "title, embeddings, identities"),
    ],
)
def test_pca_figure_rejects_mismatched_panels(tmp_path, panel, message):
    with pytest.raises(PlotInputError, match=message):
        plots.pca_figure([panel], tmp_path / "pca.png")


def test_roc_figure(tmp_path):
    far = np.r_[0.0, np.logspace(-3, 0, 40)]
    curves = {source: {"pixels": (far, np.sqrt(far)), "tl": (far, far**0.2)} for source in ("manual", "detected")}
    assert_plausible_png(plots.roc_figure(curves, tmp_path / "roc.png"), min_width=800)


@pytest.mark.parametrize(
    "curve, message",
    [
        ((np.linspace(0, 1, 5), np.linspace(0, 1, 4)), "same length"),
        ((np.linspace(0, 2, 5), np.linspace(0, 1, 5)), r"\[0, 1\]"),
        ((np.linspace(0, 1, 5),), "pair"),
    ],
)
def test_roc_figure_rejects_bad_curves(tmp_path, curve, message):
    with pytest.raises(PlotInputError, match=message):
        plots.roc_figure({"manual": {"tl": curve}}, tmp_path / "roc.png")


def runs_and_summary(tmp_path):
    paths = []
    for method, labels, base in (("pixels", "none", 0.7), ("tl", "none", 0.8), ("tl_fbv", "manual", 0.85)):
        for fold in range(4):
            paths.append(write_run(tmp_path, method, labels, fold, 0, {"auc": base + 0.01 * fold}))
    paths.append(tmp_path / Run("af", "none", 0, 0).path / "metrics.json")  # never written
    runs = runs_table.collect_runs(paths)
    return runs, statistics.summarize(runs)


def test_auc_points_figure(tmp_path):
    runs, table = runs_and_summary(tmp_path)
    assert_plausible_png(plots.auc_points_figure(runs, table, tmp_path / "auc.png"))


def test_auc_points_figure_rejects_unknown_metric(tmp_path):
    runs, table = runs_and_summary(tmp_path)
    with pytest.raises(PlotInputError, match="no column 'rank1'"):
        plots.auc_points_figure(runs, table, tmp_path / "auc.png", metric="rank1")


def history(epochs=6, aux=True):
    epoch = np.arange(1, epochs + 1)
    frame = pd.DataFrame(
        {"epoch": epoch, "total": 1.0 / epoch, "triplet": 0.8 / epoch, "val_auc": 1 - 0.4 / epoch, "seconds": 2.0}
    )
    if aux:
        frame["fbv"] = 0.2 / epoch
    return frame


def test_training_curves_figure(tmp_path):
    path = plots.training_curves_figure(
        {"tl": history(aux=False), "tl_fbv (manual)": history()}, tmp_path / "curves.png"
    )
    assert_plausible_png(path, min_width=800)


@pytest.mark.parametrize(
    "frame, message",
    [
        (history().drop(columns="val_auc"), "lacks columns"),
        (history()[["epoch", "val_auc", "seconds"]], "no loss-term columns"),
        (pd.DataFrame(), "non-empty DataFrame"),
    ],
)
def test_training_curves_reject_bad_histories(tmp_path, frame, message):
    with pytest.raises(PlotInputError, match=message):
        plots.training_curves_figure({"tl": frame}, tmp_path / "curves.png")


def test_empty_inputs_give_a_figure_that_says_so(tmp_path):
    for path in (
        plots.pca_figure([], tmp_path / "pca.png"),
        plots.roc_figure({}, tmp_path / "roc.png"),
        plots.training_curves_figure({}, tmp_path / "curves.png"),
    ):
        assert_plausible_png(path, min_width=300, min_height=100)
    failed = runs_table.collect_runs([tmp_path / Run("tl", "none", 0, 0).path / "metrics.json"])
    for path in (plots.auc_points_figure(failed, statistics.summarize(failed), tmp_path / "auc.png"),):
        assert_plausible_png(path, min_width=300, min_height=100)


def test_every_registered_reference_is_drawn_as_a_reference():
    summary = pd.DataFrame({"method": ["pixels", "untrained", "dlib", "tl"], "labels": ["none"] * 4})
    assert plots._kinds(summary, plots.REFERENCES) == ["reference", "reference", "reference", "none"]


def test_power_figure_draws_one_curve_per_comparison_and_axis_with_the_study_circled(tmp_path, monkeypatch):
    comparisons = pd.DataFrame(
        [
            {"method": "tl_pdp", "labels": "manual", "baseline": "tl", "n_units": 10, "sd_diff": 0.04},
            {"method": "tl_fbv", "labels": "detected", "baseline": "tl", "n_units": 10, "sd_diff": 0.08},
        ]
    )
    curves = statistics.power_curves(
        comparisons, test_share=0.25, test_people=12, units=[5, 15, 50], people=[6, 48], holm_family=18
    )
    drawn = {}
    real_save = plots._save

    def keep_figure(fig, path):  # read the axes back before the figure is closed
        drawn["title"] = fig._suptitle.get_text()
        drawn["axes"] = [
            [(line.get_label(), list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()]
            for ax in fig.axes
        ]
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep_figure)
    path = plots.power_figure(curves, "TAR at FAR 1e-2", tmp_path / "power.png")
    assert_plausible_png(path, min_width=900)
    assert "two-sided 5 % / 18, Holm's level for one true gain" in drawn["title"]  # the level it is drawn at
    for ax, axis in zip(drawn["axes"], ("fold units", "test people per fold")):
        for name in ("tl_pdp (manual) - tl", "tl_fbv (detected) - tl"):
            curve = curves[(curves["comparison"] == name) & (curves["axis"] == axis)].sort_values("x")
            line = next(line for line in ax if line[0] == name)
            assert line[1] == pytest.approx(list(curve["x"])) and line[2] == pytest.approx(
                list(curve["detectable_diff"])
            )
            mine = curve[curve["observed"]]
            marks = [line for line in ax if line[1] == pytest.approx(list(mine["x"])) and line[0] != name]
            assert any(mark[2] == pytest.approx(list(mine["detectable_diff"])) for mark in marks)


def test_power_figure_without_comparisons_says_so_and_rejects_foreign_tables(tmp_path):
    empty = statistics.power_curves(
        pd.DataFrame(columns=["method", "labels", "baseline", "n_units", "sd_diff"]),
        test_share=0.25,
        test_people=12,
        units=[5],
        people=[6],
    )
    assert_plausible_png(plots.power_figure(empty, "AUC", tmp_path / "empty.png"), min_width=300, min_height=100)
    with pytest.raises(PlotInputError, match="lack columns"):
        plots.power_figure(pd.DataFrame({"x": [1]}), "AUC", tmp_path / "bad.png")
    curves = pd.DataFrame([["a", "seeds", 1, 0.1, True, 1, 0.05]], columns=statistics.POWER_CURVE_COLUMNS)
    with pytest.raises(PlotInputError, match="unknown power axes"):
        plots.power_figure(curves, "AUC", tmp_path / "bad.png")


def test_power_figure_draws_every_one_of_many_comparisons(tmp_path, monkeypatch):
    comparisons = pd.DataFrame(
        [
            {"method": f"m{k}", "labels": "manual", "baseline": "tl", "n_units": 10, "sd_diff": 0.01 * (k + 1)}
            for k in range(27)  # JAFFE's 9 expression methods x 3 label sources
        ]
    )
    curves = statistics.power_curves(comparisons, test_share=0.25, test_people=12, units=[5, 15], people=[6, 48])
    drawn = {}
    real_save = plots._save

    def keep_figure(fig, path):
        drawn["labels"] = {line.get_label() for line in fig.axes[0].get_lines()}
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep_figure)
    assert_plausible_png(plots.power_figure(curves, "TAR at FAR 1e-2", tmp_path / "power.png"), min_width=900)
    assert {f"m{k} (manual) - tl" for k in range(27)} <= drawn["labels"]
