"""The second bad-input matrix, tables: rows naming what is no image file (hangs and crashes before), links
out of the table's folder, identities spelt two ways that look alike, repeated columns and cells that a
spreadsheet runs as formulas."""

import contextlib
import os
import signal
import socket
import unicodedata
from pathlib import Path

import pytest
from dataset_files import read, tiny_table, write_image

from emoverify import study
from emoverify.data.adapters import DatasetError, load_dataset


@contextlib.contextmanager
def ends_within(seconds: float):
    """Fails the test (instead of hanging it) when the block is still running after ``seconds``."""

    def hang(signum, frame):
        raise AssertionError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def planned(config: dict) -> None:
    """What Snakemake does with the table when it plans: read, check and digest it."""
    with ends_within(20):
        study.data_digest({**config, "folds": 2}, None)


# ---------------------------------------------------------------- rows that are not image files


def test_a_row_naming_dev_zero_stops_planning_naming_its_line(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("/dev/zero", "KL", "HA")])
    with pytest.raises(study.ConfigError, match=r"1 path\(s\) that are not image files: line 3: '/dev/zero' \(a "):
        planned(config)


def test_a_row_naming_a_fifo_stops_planning_naming_its_line(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("pipe.png", "KL", "HA")])
    with pytest.raises(study.ConfigError, match=r"line 3: '.*pipe.png' \(a FIFO\)"):
        planned(config)


def test_a_row_naming_a_directory_stops_planning_naming_its_line(tmp_path):
    (tmp_path / "folder.png").mkdir()
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("folder.png", "KL", "HA")])
    with pytest.raises(study.ConfigError, match=r"line 3: '.*folder.png' \(a directory\)\. List one image file"):
        planned(config)


def test_a_row_naming_a_socket_stops_planning_naming_its_line(tmp_path):
    where = tmp_path / "s.png"
    if len(str(where)) > 100:
        pytest.skip("path too long for a unix socket")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(where))
    try:
        config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("s.png", "KL", "HA")])
        with pytest.raises(study.ConfigError, match=r"line 3: '.*s.png' \(a socket\)"):
            planned(config)
    finally:
        server.close()


def test_a_link_in_the_table_folder_to_a_file_outside_is_noted(tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "x.png", value=200)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "link.png").symlink_to(outside)
    config = tiny_table(tmp_path / "data", [("a.png", "KA", "AN"), ("link.png", "KA", "HA")])
    notes = [note for note in read(config).attrs["notes"] if "outside its folder" in note]
    assert len(notes) == 1 and f"link.png -> {outside}" in notes[0]


# ---------------------------------------------------------------- identities spelt two ways


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("KA", "KA\u200b"),  # a zero-width space
        (unicodedata.normalize("NFC", "Zoë"), unicodedata.normalize("NFD", "Zoë")),
        ("KA", "\uff2b\uff21"),  # fullwidth
        ("Ka Ri", "Ka  Ri"),  # two spaces inside
        ("KA", "\u200eKA"),  # a left-to-right mark
    ],
    ids=["zero-width space", "NFC and NFD", "fullwidth", "inner spaces", "direction mark"],
)
def test_identities_that_look_alike_stop_naming_each_spelling(tmp_path, first, second):
    config = tiny_table(tmp_path, [("a.png", first, "AN"), ("b.png", second, "HA"), ("c.png", "KM", "AN")])
    with pytest.raises(DatasetError) as error:
        read(config)
    message = str(error.value)
    assert "invisible characters or Unicode form" in message
    assert f"{first!r}" in message and f"{second!r}" in message and "a.png" in message and "b.png" in message


def test_look_alike_identities_stop_also_when_case_counts(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "KA", "AN"), ("b.png", "KA\u200b", "HA"), ("c.png", "ka", "AN")])
    with pytest.raises(DatasetError, match=r"'KA' \(1 row.*and 'KA\\u200b' \(1 row") as error:
        read({**config, "identities_case_sensitive": True})
    assert "'ka'" not in str(error.value) and "identities_case_sensitive" not in str(error.value)


def test_a_table_with_two_identity_columns_stops(tmp_path):
    tiny_table(tmp_path, [("a.png", "KA", "AN")])
    (tmp_path / "labels.csv").write_text("path,identity,emotion,identity\na.png,KA,AN,KL\n")
    with pytest.raises(DatasetError, match=r"names a column more than once: 'identity' \(columns \[2, 4\]\)"):
        load_dataset("csv", tmp_path)


# ---------------------------------------------------------------- cells a spreadsheet runs


@pytest.mark.parametrize("identity", ["=cmd|' /C calc'!A0", "+1+cmd", "-2+3+cmd", "@SUM(1+1)"])
def test_an_identity_a_spreadsheet_runs_as_a_formula_is_refused_at_the_dataset_stage(tmp_path, identity):
    config = tiny_table(tmp_path, [("a.png", identity, "AN"), ("b.png", "KL", "HA")])
    with pytest.raises(DatasetError, match=r"1 cell\(s\) start with =, \+, -, @.*runs as a formula: identity"):
        read(config)


def test_negative_numbers_and_inner_signs_are_plain_cells(tmp_path):
    config = tiny_table(tmp_path, [("a.png", "-3", "AN"), ("b.png", "K=L", "HA"), ("c.png", "a-b", "HA")])
    assert sorted(read(config)["identity"]) == ["-3", "K=L", "a-b"]


def test_a_session_or_file_name_a_spreadsheet_runs_is_refused_or_made_plain(tmp_path):
    write_image(tmp_path / "-x.png", value=5)
    write_image(tmp_path / "b.png", value=6)
    (tmp_path / "labels.csv").write_text("path,identity,emotion,session\n-x.png,KA,AN,s1\nb.png,KL,HA,=1+1\n")
    with pytest.raises(DatasetError, match=r"1 cell\(s\) start with .*session '=1\+1'"):
        load_dataset("csv", tmp_path)
    (tmp_path / "labels.csv").write_text("path,identity,emotion,session\n-x.png,KA,AN,s1\nb.png,KL,HA,s2\n")
    assert list(load_dataset("csv", tmp_path)["image_id"]) == ["x", "b"]
