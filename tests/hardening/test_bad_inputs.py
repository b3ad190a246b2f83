"""The bad-input matrix: what a new user may feed the pipeline (tables, images, identities and folds, config, data
changes, interruptions, received files), one case per test, each asserting the message it stops with, the reason
it records, or that it works. Tiny synthetic images in tmp (a few tests on JAFFE copies skip without them); no
study is run, only a few dry runs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from dataset_files import read, tiny_table, write_image
from hardening.inputs import SCHEMA, checked, gone, people_rows

from emoverify import atomic, lifeline, runlock, study
from emoverify.data import snapshot
from emoverify.data.adapters import DatasetError, DatasetLabelError, load_dataset
from emoverify.data.integrity import add_content_hashes
from emoverify.faces.detect import FaceSettings, NoUsableFacesError, prepare_faces, require_usable
from emoverify.layout import Layout, LayoutError, Run
from emoverify.model import checkpoint
from emoverify.model.networks import InceptionResnetEmbedding
from emoverify.model.safe_load import UnsafeFileError
from snakemake_helpers import ROOT, TINY, planned_jobs, snakemake, write_study_config

SCRIPTS = ROOT / "workflow" / "scripts"


# ---------------------------------------------------------------- helpers


def faces_of(config: dict, tmp_path: Path) -> pd.DataFrame:
    """The faces stage's manifest of a tiny table (whole images, no detector)."""
    return prepare_faces(read(config), tmp_path / "crops", FaceSettings(detector="none", size=16))


def row_status(manifest: pd.DataFrame, name: str) -> tuple[str, str]:
    row = manifest[manifest["path"].str.endswith(name)].iloc[0]
    return row["status"], row["reason_detail"]


# ---------------------------------------------------------------- tables


def test_table_without_the_identity_column_names_the_config_key(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("path,person\na.png,KA\n")
    with pytest.raises(DatasetError, match=r"no column 'identity'.*csv_columns: \{identity: <column>\}"):
        load_dataset("csv", tmp_path)


def test_table_row_without_identity_names_its_line(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "", "HA")])
    with pytest.raises(DatasetError, match=r"empty 'identity' on lines \[3\]; every image needs an identity"):
        read(config)


def test_table_with_an_unknown_expression_names_it_and_expression_map(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "bored")])
    with pytest.raises(DatasetLabelError, match=r"'bored' \(labels.csv line 2\).*expression_map"):
        read(config)


def test_table_listing_a_path_twice_stops(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("a.png", "KA", "AN")])
    with pytest.raises(DatasetError, match=r"1 path\(s\) listed more than once: .*a.png"):
        read(config)


def test_table_listing_a_path_under_two_identities_stops(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("a.png", "KL", "AN")])
    with pytest.raises(DatasetError, match=r"a.png under KA, KL"):
        read(config)


def test_table_that_is_not_text_says_it_cannot_be_read(tmp_path):
    (tmp_path / "labels.csv").write_bytes(b"\xff\xfe\x00\x81binary\x00")
    with pytest.raises(DatasetError, match=r"cannot read the table .*labels.csv"):
        load_dataset("csv", tmp_path)


def test_table_path_leaving_its_folder_is_read_and_noted_once(tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "x.png", value=200)
    config = tiny_table(tmp_path / "data", [("a.png", "KA", "AN"), ("../elsewhere/x.png", "KA", "HA")])
    table = read(config)
    assert str(outside) in set(table["path"])
    notes = [note for note in table.attrs["notes"] if "outside its folder" in note]
    assert len(notes) == 1 and notes[0].startswith("1 path(s) of ") and str(outside) in notes[0]


def test_table_with_absolute_paths_counts_them_in_one_note(tmp_path):
    images = [write_image(tmp_path / "disk2" / f"{n}.png", value=100 + n) for n in range(3)]
    rows = [(str(path), "KA", "AN") for path in images] + [("inside.png", "KL", "HA")]
    config = tiny_table(tmp_path / "data", rows)
    notes = [note for note in read(config).attrs["notes"] if "outside its folder" in note]
    assert len(notes) == 1 and notes[0].startswith("3 path(s) of ")


def test_table_row_pointing_at_a_system_file_is_noted_and_recorded_unreadable(tmp_path):
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd here")
    config = tiny_table(
        tmp_path / "a" / "b", [("ok.png", "KA", "AN"), ("../../../../../../../../etc/passwd", "KA", "")]
    )
    manifest = faces_of(config, tmp_path)
    assert row_status(manifest, "/etc/passwd")[0] == "unreadable"
    assert any("/etc/passwd" in note and "outside its folder" in note for note in read(config).attrs["notes"])


def test_table_row_of_a_missing_file_is_recorded_missing(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN")])
    (tmp_path / "labels.csv").write_text("path,identity,emotion\na.png,KA,AN\ngone.png,KA,HA\n")
    assert row_status(faces_of(config, tmp_path), "gone.png") == ("missing", "file not found")


def test_tab_separated_table_works(tmp_path):
    write_image(tmp_path / "a.png", value=1)
    write_image(tmp_path / "b.png", value=2)
    (tmp_path / "labels.tsv").write_text("path\tidentity\temotion\na.png\tKA\tAN\nb.png\tKL\tHA\n")
    table = load_dataset("csv", tmp_path / "labels.tsv")
    assert list(table["identity"]) == ["KA", "KL"] and list(table["emotion_manual"]) == ["anger", "happiness"]


def test_table_with_extra_columns_works(tmp_path):
    tiny_table(tmp_path, [("a.png", "KA", "AN")])
    table = pd.read_csv(tmp_path / "labels.csv").assign(comment="checked by hand")
    table.to_csv(tmp_path / "labels.csv", index=False)
    assert len(load_dataset("csv", tmp_path)) == 1


def test_missing_data_root_says_how_to_set_it(tmp_path):
    with pytest.raises(DatasetError, match=r"data_root '.*nowhere' does not exist; set data_root"):
        load_dataset("csv", tmp_path / "nowhere")


# ---------------------------------------------------------------- images


def test_text_file_named_like_an_image_is_recorded_unreadable(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN")])
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "labels.csv").write_text("path,identity,emotion\na.png,KA,AN\nnotes.png,KA,HA\n")
    status, reason = row_status(faces_of(config, tmp_path), "notes.png")
    assert status == "unreadable" and reason


def test_truncated_image_is_recorded_unreadable(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KA", "HA")])
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    assert row_status(faces_of(config, tmp_path), "b.png")[0] == "unreadable"


def test_empty_file_is_recorded_unreadable(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KA", "HA")])
    (tmp_path / "b.png").write_bytes(b"")
    assert row_status(faces_of(config, tmp_path), "b.png")[0] == "unreadable"


def test_transparent_image_works(tmp_path):
    from PIL import Image

    Image.new("RGBA", (20, 20), (10, 200, 30, 128)).save(tmp_path / "a.png")
    config = tiny_table(tmp_path, [("a.png", "KA", "AN")])
    assert row_status(faces_of(config, tmp_path), "a.png")[0] == "ok"


def test_the_same_picture_under_two_identities_stops(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KL", "AN")])
    shutil.copy(tmp_path / "a.png", tmp_path / "b.png")
    with pytest.raises(DatasetError, match=r"identical content under several identities: .*a.png \(KA\) = .*b.png"):
        read(config)


def test_the_same_picture_twice_within_one_identity_is_noted(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KA", "HA")])
    shutil.copy(tmp_path / "a.png", tmp_path / "b.png")
    assert any("within one identity" in note for note in read(config).attrs["notes"])


def test_no_usable_face_at_all_says_what_to_check(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN")])
    (tmp_path / "a.png").write_text("nothing")
    with pytest.raises(NoUsableFacesError, match=r"none of the 1 images gave a usable face \(unreadable: 1\)"):
        require_usable(faces_of(config, tmp_path))


def test_hidden_and_non_image_files_of_a_folder_are_skipped(tmp_path):
    write_image(tmp_path / "KA" / "a.png", value=1)
    (tmp_path / "KA" / ".DS_Store").write_text("x")
    (tmp_path / "KA" / "readme.txt").write_text("x")
    assert [Path(path).name for path in load_dataset("folder", tmp_path)["path"]] == ["a.png"]


# ---------------------------------------------------------------- identities and folds


def test_identities_equal_up_to_case_stop_with_both_spellings_and_rows(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "ka", "HA"), ("c.png", "KL", "AN")])
    with pytest.raises(DatasetError) as error:
        read(config)
    message = str(error.value)
    assert "differ only in case or surrounding spaces" in message
    assert "'KA' (1 row(s): " in message and "a.png" in message and "'ka' (1 row(s): " in message and "b.png" in message
    assert "identities_case_sensitive: true" in message


def test_identities_equal_up_to_surrounding_spaces_stop(tmp_path):
    write_image(tmp_path / "KA" / "a.png", value=1)
    write_image(tmp_path / "KA " / "b.png", value=2)
    with pytest.raises(DatasetError, match=r"'KA' \(1 row\(s\): .*\) and 'KA ' \(1 row\(s\)"):
        load_dataset("folder", tmp_path)


def test_identities_case_sensitive_keeps_them_apart(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "ka", "HA")])
    table = read({**config, "identities_case_sensitive": True})
    assert sorted(table["identity"]) == ["KA", "ka"]


def test_the_case_check_also_stops_the_plan(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "ka", "HA")])
    with pytest.raises(study.ConfigError, match="differ only in case"):
        study.data_digest({**config, "folds": 2})


def test_too_few_people_for_the_folds_name_the_largest_that_works(tmp_path):
    config = tiny_table(tmp_path, people_rows(people=("A", "B", "C", "D", "E", "F", "G", "H")))
    with pytest.raises(study.ConfigError, match=r"set folds to at most \d+ \(the config key folds\)"):
        study.data_digest({**config, "folds": 8})


def test_a_folder_tree_of_expressions_points_at_ckplus48(tmp_path):
    write_image(tmp_path / "happy" / "S010_001_0001.png")
    with pytest.raises(DatasetError, match="use the ckplus48 adapter/preset"):
        load_dataset("folder", tmp_path)


def test_a_folder_tree_too_deep_says_to_flatten_it(tmp_path):
    write_image(tmp_path / "KA" / "happy" / "extra" / "a.png")
    with pytest.raises(DatasetError, match="nested too deep for the folder adapter"):
        load_dataset("folder", tmp_path)


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("name", ["..", ".", "a/../../x", "my study", "a__b", "-x"])
def test_experiment_names_that_leave_results_or_break_the_pattern_are_refused(defaults, name):
    with pytest.raises(study.ConfigError, match=f"experiment name {name!r} is not allowed"):
        checked(defaults, experiment=name)


def test_a_layout_refuses_an_experiment_outside_results():
    with pytest.raises(LayoutError, match=r"experiment name '\.\.' is not allowed"):
        Layout("..")


def test_an_output_path_outside_the_experiment_is_refused():
    layout = Layout("demo")
    assert layout.outside([layout.table, layout.run_pattern("model.pt"), "results/demo/../x.csv"]) == [
        "results/demo/../x.csv"
    ]
    with pytest.raises(LayoutError, match=r"1 output path\(s\) outside results/demo/: benchmarks/x.tsv"):
        layout.check_inside(["benchmarks/x.tsv"])


def test_a_rule_writing_outside_the_experiment_stops_the_workflow_at_parse_time(tmp_path):
    """The workflow checks every rule's outputs, logs and benchmarks; here one more rule (defined before the
    project's Snakefile is included) writes beside results/."""
    (tmp_path / "workflow").symlink_to(ROOT / "workflow")  # found beside the Snakefile, as in the project
    (tmp_path / "Snakefile").write_text(
        f'rule stray:\n    output: "benchmarks/x.tsv"\n\ninclude: "{ROOT / "Snakefile"}"\n'
    )
    write_study_config(tmp_path / "study.yaml", TINY)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)]
        + ["--configfile", str(ROOT / "config.yaml"), str(tmp_path / "study.yaml"), "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "1 output path(s) outside results/tiny/: benchmarks/x.tsv" in result.stdout + result.stderr


def test_a_compared_experiment_name_is_checked_too(defaults):
    with pytest.raises(study.ConfigError, match=r"experiment name '\.\./other' is not allowed"):
        checked(defaults, compare_with=["../other"])


def test_a_method_named_with_a_slash_is_refused_not_dropped(defaults):
    methods = {**defaults["methods"], "tl/new": {"primary": "triplet", "geometry": "spherical"}}
    with pytest.raises(study.ConfigError, match=r"method name 'tl/new' is not allowed"):
        checked(defaults, methods=methods, run_methods=["tl/new"])


def test_a_method_named_like_a_tuning_candidate_is_refused(defaults):
    methods = {**defaults["methods"], "tl__w1": {"primary": "triplet", "geometry": "spherical"}}
    with pytest.raises(study.ConfigError, match=r"method name 'tl__w1' is not allowed"):
        checked(defaults, methods=methods)


def test_the_schema_and_the_layout_spell_the_same_name_pattern():
    from emoverify.layout import METHOD_WILDCARD, NAME_PATTERN

    assert SCHEMA["properties"]["experiment"]["pattern"] == NAME_PATTERN
    assert SCHEMA["properties"]["methods"]["propertyNames"]["pattern"] == NAME_PATTERN
    assert "method=METHOD_WILDCARD" in (ROOT / "workflow" / "rules" / "common.smk").read_text()
    import re

    assert re.fullmatch(METHOD_WILDCARD, "tl-2__w0p1") and not re.fullmatch(METHOD_WILDCARD, "tl/new")


def test_a_method_name_with_a_hyphen_is_planned(tmp_path):
    study_config = {
        **TINY,
        "experiment": "hyphen-study",
        "run_methods": ["tl-2"],
        "methods": {"tl-2": {"primary": "triplet", "geometry": "spherical"}},
        "references": [],
    }
    write_study_config(tmp_path / "study.yaml", study_config)
    jobs = planned_jobs(tmp_path)
    assert jobs["train_run"] == TINY["folds"] and jobs["evaluate_run"] == TINY["folds"]


def test_a_misspelt_key_names_the_nearest_one(defaults):
    with pytest.raises(study.ConfigError, match=r"unknown config key 'epocs'; did you mean 'epochs'\?"):
        checked(defaults, epocs=3)


def test_arcface_in_free_space_is_refused(defaults):
    methods = {**defaults["methods"], "af": {"primary": "arcface", "geometry": "euclidean"}}
    with pytest.raises(study.ConfigError, match="ArcFace works on the sphere"):
        checked(defaults, methods=methods)


def test_an_undefined_run_method_lists_the_defined_ones(defaults):
    with pytest.raises(study.ConfigError, match=r"run_methods names \['tll'\] that the config does not define"):
        checked(defaults, run_methods=["tll"])


def test_comparing_an_experiment_with_itself_is_refused(defaults):
    with pytest.raises(study.ConfigError, match="compare_with names this experiment"):
        checked(defaults, compare_with=[defaults["experiment"]])


def test_a_string_where_a_number_belongs_is_named(defaults):
    with pytest.raises(study.ConfigError, match="config key epochs: 'many' is not of type 'integer'"):
        checked(defaults, epochs="many")


# ---------------------------------------------------------------- data changes


def same_size_replacement(image: Path, other: Path) -> None:
    """``image`` given ``other``'s bytes (same size) with its old access and modification times restored, as
    re-extracting a corrected archive does."""
    before = image.stat()
    assert other.stat().st_size == before.st_size
    shutil.copyfile(other, image.with_suffix(".new"))
    os.replace(image.with_suffix(".new"), image)
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert image.stat().st_size == before.st_size and image.stat().st_mtime_ns == before.st_mtime_ns


def test_an_image_replaced_at_the_same_size_and_time_is_hashed_again(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KL", "AN")])
    cache = tmp_path / "hashes.csv"
    before = read(config, cache)
    write_image(tmp_path / "c.png", value=77, size=24)  # same size on disk as a.png (same encoder, one grey level)
    same_size_replacement(tmp_path / "a.png", tmp_path / "c.png")
    after = read(config, cache)
    assert after["content_sha1"][0] != before["content_sha1"][0]
    assert snapshot.digest(after.to_dict("list")) != snapshot.digest(before.to_dict("list"))


def test_the_same_replacement_in_place_is_hashed_again(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN")])
    cache = tmp_path / "hashes.csv"
    before = read(config, cache)["content_sha1"][0]
    stat = (tmp_path / "a.png").stat()
    time.sleep(0.01)  # the change time moves on even when the bytes are rewritten in place
    write_image(tmp_path / "a.png", value=99, size=24)
    os.utime(tmp_path / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (tmp_path / "a.png").stat().st_size == stat.st_size
    assert read(config, cache)["content_sha1"][0] != before


def test_a_touched_dataset_keeps_its_digest(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KL", "HA")])
    cache = tmp_path / "hashes.csv"
    before = snapshot.digest(read(config, cache).to_dict("list"))
    os.utime(tmp_path / "a.png")
    assert snapshot.digest(read(config, cache).to_dict("list")) == before


def test_a_hash_cache_of_the_older_kind_is_read_again_not_trusted(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN")])
    stat = (tmp_path / "a.png").stat()
    old = pd.DataFrame([(str(tmp_path / "a.png"), stat.st_size, stat.st_mtime_ns, "0" * 40)])
    old.columns = ["path", "size", "mtime_ns", "content_sha1"]
    old.to_csv(tmp_path / "hashes.csv", index=False)
    table = add_content_hashes(read(config).drop(columns="content_sha1"), tmp_path / "hashes.csv")
    assert table["content_sha1"][0] != "0" * 40
    assert {"inode", "ctime_ns"} <= set(pd.read_csv(tmp_path / "hashes.csv").columns)


def test_an_edited_label_changes_the_digest(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KL", "HA")])
    before = snapshot.digest(read(config).to_dict("list"))
    tiny_table(tmp_path, [("a.png", "KA", "SA"), ("b.png", "KL", "HA")])
    assert snapshot.digest(read(config).to_dict("list")) != before


# ---------------------------------------------------------------- interruptions


def start_python(code: str, *arguments: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *arguments], **kwargs)


def wait_for(path: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


# a job: ties itself to its Snakemake the way every rule script does (workflow/scripts/_setup.py), then sleeps
JOB = f"""
import os, runpy, sys, time
runpy.run_path({str(SCRIPTS / "_setup.py")!r})
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(120)
"""


@pytest.mark.parametrize("through_shell", [False, True], ids=["job child of Snakemake", "job under a shell"])
def test_a_job_dies_when_its_snakemake_is_killed(tmp_path, through_shell):
    """A stand-in Snakemake (a program named snakemake) starts the job directly or through a shell, as Snakemake
    does; SIGKILL on it ends the job (parent-death signal, else the watchdog)."""
    (tmp_path / "job.py").write_text(JOB)
    job = f"{sys.executable} {tmp_path / 'job.py'} {tmp_path / 'job.pid'}"
    command = ["/bin/sh", "-c", f"{job}; true"] if through_shell else job.split()
    (tmp_path / "snakemake").write_text(f"import subprocess\nsubprocess.run({command!r})\n")
    owner = subprocess.Popen([sys.executable, str(tmp_path / "snakemake")])
    try:
        pid = int(wait_for(tmp_path / "job.pid"))
        assert lifeline.owner_pid(pid) == owner.pid
        owner.kill()
        owner.wait()
        assert gone(pid), "the job outlived its Snakemake"
    finally:
        owner.kill()


def test_a_job_of_a_real_snakemake_dies_with_it(tmp_path):
    (tmp_path / "job.py").write_text(JOB.replace("sys.argv[1]", "'job.pid'"))
    (tmp_path / "Snakefile").write_text('rule job:\n    output: "done"\n    script: "job.py"\n')
    run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "1", "done"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pid = int(wait_for(tmp_path / "job.pid", seconds=120))
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert gone(pid), "the job outlived its Snakemake"
    finally:
        run.kill()


def test_a_write_that_fails_midway_leaves_no_finished_file(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError), atomic.replaced_when_complete(target) as partial:
        partial.write_text('{"auc": 0.')
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_job_killed_while_writing_its_model_leaves_no_model(tmp_path):
    code = """
    import os, signal, sys
    import torch
    from emoverify import atomic
    with atomic.replaced_when_complete(sys.argv[1]) as partial:
        torch.save({"weights": torch.zeros(1000)}, partial)
        os.kill(os.getpid(), signal.SIGKILL)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    start_python(code, str(tmp_path / "model.pt"), env=env).wait()
    assert not (tmp_path / "model.pt").exists()
    assert [path.name for path in tmp_path.iterdir()][0].startswith(".model.partial-")


def test_history_and_metrics_appear_complete_or_not_at_all(tmp_path):
    target = tmp_path / "history.csv"
    atomic.write_text(target, "epoch,loss\n1,0.5\n")
    assert target.read_text() == "epoch,loss\n1,0.5\n" and [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_a_second_run_on_a_live_experiment_names_the_live_runs_pid(tmp_path):
    live = start_python(
        f"""
        import time
        from emoverify import runlock  # the checkout's library: conftest puts it on PYTHONPATH
        runlock.claim({str(tmp_path / "running.json")!r})
        time.sleep(120)
        """
    )
    try:
        wait_for(tmp_path / "running.json")
        with pytest.raises(runlock.ExperimentBusyError) as error:
            runlock.check_free(tmp_path / "running.json", "jaffe")
        assert str(error.value).startswith(f"another run (pid {live.pid}) holds experiment jaffe; wait for it")
        assert "--unlock only after it ended" in str(error.value)
    finally:
        live.kill()
        live.wait()
    runlock.check_free(tmp_path / "running.json", "jaffe")  # a killed run's record holds nothing


def test_snakemake_on_a_live_experiment_stops_at_parse_time_naming_the_pid(tmp_path):
    write_study_config(tmp_path / "study.yaml", TINY)
    holder = tmp_path / Layout(TINY["experiment"]).run_holder
    holder.parent.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        holder.write_text(
            json.dumps({"pid": sleeper.pid, "started": lifeline.start_time(sleeper.pid), "host": os.uname().nodename})
        )
        result = snakemake(tmp_path, "--dry-run", check=False)
        assert result.returncode != 0
        assert f"another run (pid {sleeper.pid}) holds experiment tiny" in result.stdout + result.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_run_record_of_a_reused_pid_is_ignored(tmp_path):
    record = {"pid": os.getppid(), "started": "1", "host": os.uname().nodename}  # alive, but started at another time
    (tmp_path / "running.json").write_text(json.dumps(record))
    assert runlock.holder(tmp_path / "running.json") is None


# ---------------------------------------------------------------- received files (security)


class Payload:
    """Unpickling this creates the marker file: what a crafted weight file would do with a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_crafted_model_file_runs_nothing_and_is_named(tmp_path):
    marker = tmp_path / "ran"
    model = tmp_path / "runs" / "model.pt"
    model.parent.mkdir()
    torch.save({"failed": "", "method": {}, "training": {}, "payload": Payload(marker)}, model)
    with pytest.raises(UnsafeFileError, match=f"{model} was not loaded: it holds objects other than tensors"):
        checkpoint.load_checkpoint(model, torch.device("cpu"))
    assert not marker.exists()


def test_a_crafted_facenet_weight_file_runs_nothing_and_is_named(tmp_path):
    marker = tmp_path / "ran"
    weights = tmp_path / "20180402-114759-vggface2.pt"
    torch.save({"conv2d_1a.conv.weight": torch.zeros(1), "x": Payload(marker)}, weights)
    with pytest.raises(UnsafeFileError, match=f"{weights} was not loaded"):
        InceptionResnetEmbedding(pretrained="vggface2", pretrained_path=weights)
    assert not marker.exists()


def test_a_crafted_facenet_weight_file_in_the_hub_cache_runs_nothing_at_feature_extraction(tmp_path, monkeypatch):
    from emoverify.features import facenet_descriptor
    from emoverify.model.networks import PRETRAINED_FILES

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    weights = tmp_path / "hub" / "checkpoints" / PRETRAINED_FILES["vggface2"]
    weights.parent.mkdir(parents=True)
    marker = tmp_path / "ran"
    torch.save({"x": Payload(marker)}, weights)
    with pytest.raises(UnsafeFileError, match=f"{weights} was not loaded"):
        facenet_descriptor.load_model("facenet_vggface2")
    assert not marker.exists()


def test_a_file_that_is_no_weight_file_is_named(tmp_path):
    model = tmp_path / "model.pt"
    model.write_text("hello")
    with pytest.raises(UnsafeFileError, match=f"{model} is not a readable torch weight file"):
        checkpoint.load_checkpoint(model, torch.device("cpu"))


def test_checkpoints_hold_plain_values_that_the_safe_loader_reads(tmp_path):
    import numpy as np

    run = Run("tl", "manual", fold=0, seed=np.int64(1))
    extra = {"run": run, "figure": np.float32(0.5), "counts": (np.int64(2), 3)}
    checkpoint.save_failed_checkpoint(tmp_path / "model.pt", "no labels", method={}, training={}, extra=extra)
    _, state = checkpoint.load_checkpoint(tmp_path / "model.pt", torch.device("cpu"))
    assert state["run"]["seed"] == 1 and state["figure"] == 0.5 and state["counts"] == [2, 3]
    with pytest.raises(TypeError, match="tensors and plain values only, not object"):
        checkpoint.plain({"x": object()})


def test_every_torch_load_in_the_project_is_restricted():
    loads = []
    for path in [
        *(ROOT / "workflow").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
    ]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "torch.load(" in line and "weights_only=True" not in line and "def " not in line:
                loads.append(f"{path.relative_to(ROOT)}:{number}")
    assert loads == []


def test_jaffe_identities_in_two_cases_stop_on_real_files(jaffe_root, tmp_path):
    jaffe = jaffe_root
    images = tmp_path / "jaffe"
    images.mkdir()
    for name in ("KA.AN1.39.tiff", "KL.AN1.167.tiff", "KM.AN1.17.tiff"):
        shutil.copy(jaffe / name, images / name)
    shutil.copy(jaffe / "KA.HA1.29.tiff", images / "ka.HA1.29.tiff")
    with pytest.raises(DatasetError, match=r"'KA' \(1 row\(s\): .*KA.AN1.39.tiff\) and 'ka' \(1 row\(s\)"):
        load_dataset("jaffe", images)
