"""The second bad-input matrix, security: what a received data folder, table or face cache can plant. Names
and cells are never markup in the report, and the face cache holds only what the detector computed."""

import json
from pathlib import Path

import pytest
from dataset_files import read, tiny_table
from docutils.core import publish_parts
from docutils.writers import get_writer_class
from hardening.html_check import live_markup
from hardening.studies import csv_study, write_csv_dataset

from emoverify.faces.detect import FaceSettings, prepare_faces
from emoverify.report import verdict
from snakemake_helpers import snakemake, write_study_config

# a data folder's name: closes the report's script block, plants an element, and (second line) an RST directive
FOLDER = "x</script><svg onload=alert(1)>\n\n.. raw:: html\n\n   <svg onload=alert(2)>\n\nv"
IDENTITIES = ["<svg onload=alert(3)>", "</script><script>alert(4)</script>", "`x`_ |y| *z*", ".. raw:: html"]


def verdict_page_html(dataset: str) -> str:
    """The verdict page of a one-comparison study on ``dataset`` as the report renders it (raw HTML enabled,
    as in Snakemake's report)."""
    import pandas as pd

    row = dict.fromkeys(verdict.COLUMNS, float("nan"))  # the verdict table's columns, whatever they are
    row.update(row="comparison", method="tl_pdp", labels="manual", baseline="tl", mean=0.8, baseline_mean=0.7)
    row.update(difference=0.1, ci95_low=0.0, ci95_high=0.2, p_holm=0.04, n_units=4, finding="gain")
    table = pd.DataFrame([row])
    sentence = f"{dataset}: yes: tl_pdp beats tl."
    rst = verdict.verdict_rst(table, sentence)
    return publish_parts(
        rst, writer=get_writer_class("html")(), settings_overrides={"raw_enabled": True, "halt_level": 5}
    )["body"]


def test_a_folder_name_with_markup_is_plain_text_on_the_verdict_page():
    """Even unfiltered, a name with blank lines and a raw directive stays one paragraph of text."""
    html = verdict_page_html(FOLDER)
    assert live_markup(html) == []
    assert html.count("<p>") == 1 and "<pre" not in html  # no second block, no literal or raw block


def test_the_aggregate_rule_receives_only_a_plain_name_of_the_data_root():
    """Snakemake puts the params of report rules raw into the report's <script> blocks: the data root reaches
    them as a plain name, which names the dataset as before."""
    from emoverify.report import shown

    root = shown.shown_root(f"/data/{FOLDER}/labels.csv")
    assert live_markup(f'<script id="results">var results = {json.dumps({"data_root": root})};</script>') == []
    assert "\n" not in root and "<" not in root and root.endswith("/labels.csv")
    assert verdict.dataset_name("csv", root) == verdict.dataset_name("csv", f"/data/{FOLDER}/labels.csv")
    assert shown.shown_root("/data/lfw_emotion/faces.csv") == "lfw_emotion/faces.csv"


def test_the_html_report_of_a_study_on_a_markup_named_folder_holds_no_planted_element(tmp_path):
    """The whole study and its report.html: data folder and identities hold </script>, <svg onload>, an RST
    directive and newlines; no element, handler or script of the parsed report came from them."""
    data = tmp_path / "data" / FOLDER / "v"
    people = IDENTITIES + ["KA", "KL", "KM", "KR"]
    table = write_csv_dataset(data, people)
    write_study_config(tmp_path / "study.yaml", csv_study(table))
    snakemake(tmp_path, "--cores", "2")
    snakemake(tmp_path, "--report", "report.html")
    html = (tmp_path / "report.html").read_text()
    assert live_markup(html) == []


# ---------------------------------------------------------------- the face cache


def cached_faces(config: dict, tmp_path: Path, out: str):
    return prepare_faces(
        read(config), tmp_path / out, FaceSettings(detector="none", size=16), cache_dir=tmp_path / "cache"
    )


def cache_entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("*/*.json"))


def test_a_face_cache_entry_naming_another_person_or_file_is_not_trusted(tmp_path):
    config = tiny_table(tmp_path / "data", [("a.png", "KA", "AN"), ("b.png", "KL", "HA")])
    cached_faces(config, tmp_path, "first")
    outside = tmp_path / "outside.png"
    outside.write_bytes((tmp_path / "data" / "b.png").read_bytes())
    for entry in cache_entries(tmp_path):
        record = json.loads(entry.read_text())
        record.update(identity="KL", emotion_manual="sadness", aligned_path=str(outside))
        record.get("result", record).update(identity="KL", aligned_path=str(outside))
        entry.write_text(json.dumps(record))
    manifest = cached_faces(config, tmp_path, "second")
    assert list(manifest["identity"]) == ["KA", "KL"]
    assert list(manifest["emotion_manual"]) == ["anger", "happiness"]
    assert all(Path(path).parent == tmp_path / "second" for path in manifest["aligned_path"])
    assert manifest.attrs["from_cache"] == 0
    assert "2 face cache entr(ies) not trusted" in manifest.attrs["notes"][0]


def test_a_truncated_face_cache_entry_is_detected_again_with_a_note(tmp_path):
    config = tiny_table(tmp_path / "data", [("a.png", "KA", "AN"), ("b.png", "KL", "HA")])
    first = cached_faces(config, tmp_path, "first")
    entry = cache_entries(tmp_path)[0]
    entry.write_text(entry.read_text()[:20])
    again = cached_faces(config, tmp_path, "second")
    assert list(again["status"]) == list(first["status"]) == ["ok", "ok"]
    assert again.attrs["from_cache"] == 1
    assert str(entry) in again.attrs["notes"][0] and "unreadable (JSONDecodeError)" in again.attrs["notes"][0]


def test_a_face_cache_write_cut_short_leaves_no_entry(tmp_path, monkeypatch):
    """A full disk (or a kill) while an entry is written: the entry never appears half-written under its name,
    so the next faces run detects the image again instead of failing."""
    config = tiny_table(tmp_path / "data", [("a.png", "KA", "AN")])
    real_write = Path.write_text

    def disk_full(path, text, *args, **kwargs):
        real_write(path, text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="(?i)no space left"):
        cached_faces(config, tmp_path, "first")
    monkeypatch.undo()
    assert cache_entries(tmp_path) == []
    assert list(cached_faces(config, tmp_path, "second")["status"]) == ["ok"]


def test_a_face_cache_entry_copied_under_another_content_is_not_trusted(tmp_path):
    config = tiny_table(tmp_path / "data", [("a.png", "KA", "AN"), ("b.png", "KL", "HA")])
    cached_faces(config, tmp_path, "first")
    first, second = cache_entries(tmp_path)
    second.write_text(first.read_text())
    manifest = cached_faces(config, tmp_path, "second")
    assert manifest.attrs["from_cache"] == 1 and "written for another content" in manifest.attrs["notes"][0]
