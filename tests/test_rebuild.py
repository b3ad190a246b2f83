"""A committed study's report tables rebuilt from its runs.csv alone give what the report stage writes from the
runs' own files, to the byte, and leave runs.csv untouched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from report_runs import write_run

from emoverify import rebuild
from emoverify.report import build, runs_table
from emoverify.report.settings import ReportSettings
from emoverify.schema import fill_defaults
from emoverify.splits.folds import held_out_share

ROOT = Path(__file__).resolve().parents[1]
FOLDS = range(4)


def folds_table() -> pd.DataFrame:
    """Four folds of 8 people with 3 images each: 2 people test, 1 validates, 5 train."""
    rows = []
    for fold in FOLDS:
        for person in range(8):
            split = "test" if person in (2 * fold, 2 * fold + 1) else "val" if person == (2 * fold + 2) % 8 else "train"
            rows += [
                {"image_id": f"p{person}_{i}", "identity": f"p{person}", "fold": fold, "split": split} for i in range(3)
            ]
    return pd.DataFrame(rows).assign(note="", repeat=0)


def committed_study(tmp_path) -> tuple[Path, Path, list[Path]]:
    """docs/studies/<name>-like folder (merged config, runs.csv as the report wrote it) and its folds file."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.update(run_methods=["tl", "tl_pdp"], references=["untrained"], experiment="tiny")
    fill_defaults(config)
    paths = []
    for fold in FOLDS:
        base = 0.6 + 0.05 * fold
        paths.append(write_run(tmp_path / "results", "untrained", "none", fold, 0, {"auc": base - 0.1}, reference=True))
        training = {"training": {"best_epoch": fold % 3, "epochs_run": 4}}
        paths.append(
            write_run(tmp_path / "results", "tl", "none", fold, 0, {"auc": base, "n_test_identities": 2}, **training)
        )
        for labels, shift in (("manual", 0.01 * fold), ("shuffled", -0.02 + 0.003 * fold)):
            metrics = {"auc": base + shift, "tar_at_far_1e-2": base / 2 + shift, "n_test_identities": 2}
            paths.append(write_run(tmp_path / "results", "tl_pdp", labels, fold, 0, metrics, **training))
    study = tmp_path / "studies" / "tiny"
    (study / "tables").mkdir(parents=True)
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    folds = tmp_path / "folds.csv"
    folds_table().to_csv(folds, index=False)
    return study, folds, paths


def test_tables_rebuilt_from_runs_csv_equal_the_report_stages_to_the_byte(tmp_path):
    study, folds, paths = committed_study(tmp_path)
    config = yaml.safe_load((study / "config.yaml").read_text())
    settings = ReportSettings.from_params(
        rebuild.report_params(config), test_share=held_out_share(pd.read_csv(folds, keep_default_na=False))
    )
    # the report stage: runs from their metrics.json files
    runs = build.order_rows(runs_table.collect_runs(paths), list(settings.order))
    runs.to_csv(study / "tables" / "runs.csv", index=False)
    staged = tmp_path / "staged"
    staged.mkdir()
    outputs = {key: staged / name for key, name in {**rebuild.TABLES, **rebuild.PAGES}.items()}
    build.write_tables(settings, runs, outputs)
    written = (study / "tables" / "runs.csv").read_bytes()

    assert rebuild.main([str(study), "--folds", str(folds), "--pages", str(tmp_path / "pages")]) == 0
    assert (study / "tables" / "runs.csv").read_bytes() == written
    for name in rebuild.TABLES.values():
        assert (study / "tables" / name).read_bytes() == (staged / name).read_bytes(), name
    assert (tmp_path / "pages" / "verdict.rst").read_text() == (staged / "verdict.rst").read_text()
    effect = pd.read_csv(study / "tables" / "training_effect.csv")
    assert set(effect["start"]) == {"untrained"} and set(effect["method"]) == {"tl", "tl_pdp"}


def test_a_study_without_its_folds_is_refused_by_name(tmp_path, capsys):
    study, folds, _ = committed_study(tmp_path)
    assert rebuild.main([str(study), "--folds", str(tmp_path / "absent.csv")]) == 2
    assert "absent.csv" in capsys.readouterr().err
