"""Dataset adapters: real layouts, layouts built in tmp_path, and the errors users meet."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CKPLUS48_DIR
from dataset_files import write_image
from hypothesis import given
from hypothesis import strategies as st

from emoverify.data import adapters
from emoverify.data.adapters import ADAPTERS, COLUMNS, DatasetError, DatasetLabelError, load_dataset
from emoverify.vocabulary import EXPRESSIONS, UnknownExpressionError

SAFE_ID = re.compile(r"^[A-Za-z0-9._+-]+$")


def assert_well_formed(table: pd.DataFrame) -> None:
    assert list(table.columns) == list(COLUMNS)
    assert table["image_id"].is_unique
    assert all(SAFE_ID.match(image_id) for image_id in table["image_id"])
    assert all(Path(path).is_absolute() for path in table["path"])
    assert set(table["emotion_manual"]) <= set(EXPRESSIONS) | {""}


# ---------------------------------------------------------------- real data


def test_jaffe(jaffe_root):
    table = load_dataset("jaffe", jaffe_root)
    assert_well_formed(table)
    assert len(table) == 213
    assert table["identity"].nunique() == 10
    assert set(table["emotion_manual"]) == {"anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"}
    row = table.set_index("image_id").loc["KA.AN1.39"]
    assert (row["identity"], row["emotion_manual"], row["session"]) == ("KA", "anger", "")
    assert row["path"] == str(jaffe_root / "KA.AN1.39.tiff")
    assert all(Path(path).is_file() for path in table["path"])


@pytest.mark.parametrize("level", ["CK+48", "parent"])
def test_ckplus48(ckplus48_root, level):
    root = ckplus48_root if level == "CK+48" else ckplus48_root.parent
    table = load_dataset("ckplus48", root)
    assert_well_formed(table)
    assert len(table) == 981
    assert table["identity"].nunique() == 118
    assert table["session"].nunique() == 327
    assert "neutral" not in set(table["emotion_manual"]) and "happiness" in set(table["emotion_manual"])
    row = table.set_index("image_id").loc["S010_004_00000017"]
    assert (row["identity"], row["session"], row["emotion_manual"]) == ("S010", "S010_004", "anger")


def test_jaffe_adapter_on_a_ckplus48_tree_names_the_right_preset(ckplus48_root):
    with pytest.raises(DatasetError, match="jaffe layout.*looks like the ckplus48 layout"):
        load_dataset("jaffe", ckplus48_root.parent)


def test_ckplus48_adapter_on_jaffe_names_the_jaffe_preset(jaffe_root):
    with pytest.raises(DatasetError, match="looks like the jaffe layout"):
        load_dataset("ckplus48", jaffe_root)


# ---------------------------------------------------------------- official CK+ layout, built here


def source_frames(count: int) -> list[Path]:
    """CK+48 frames when available (real faces), otherwise none: the caller draws stand-ins."""
    if not CKPLUS48_DIR.is_dir():
        return []
    return sorted((CKPLUS48_DIR / "anger").glob("*.png"))[:count]


def build_ckplus_tree(root: Path, sequences: dict[tuple[str, str], tuple[int, int | None]]) -> Path:
    """Write cohn-kanade-images/<S>/<seq>/*.png and Emotion/<S>/<seq>/*_emotion.txt under root."""
    frames = source_frames(sum(n for n, _ in sequences.values()))
    used = 0
    for (subject, sequence), (n_frames, code) in sequences.items():
        folder = root / "cohn-kanade-images" / subject / sequence
        for frame in range(1, n_frames + 1):
            target = folder / f"{subject}_{sequence}_{frame:08d}.png"
            if used < len(frames):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(frames[used], target)
            else:
                write_image(target, value=20 * frame)
            used += 1
        if code is not None:
            label_dir = root / "Emotion" / subject / sequence
            label_dir.mkdir(parents=True, exist_ok=True)
            (label_dir / f"{subject}_{sequence}_{n_frames:08d}_emotion.txt").write_text(f"   {code:.7e}\n")
    (root / "Emotion").mkdir(exist_ok=True)
    return root


@pytest.fixture
def ckplus_tree(tmp_path):
    root = build_ckplus_tree(
        tmp_path / "CK+",
        {("S005", "001"): (6, 1), ("S005", "002"): (3, None), ("S010", "004"): (2, 5), ("S010", "005"): (5, 7)},
    )
    (root / "cohn-kanade-images" / "S005" / "001" / ".DS_Store").write_text("junk")
    (root / "cohn-kanade-images" / "S005" / "001" / "notes.txt").write_text("not an image")
    return root


def test_ckplus_first_frame_neutral_last_frames_labelled(ckplus_tree):
    table = load_dataset("ckplus", ckplus_tree)
    assert_well_formed(table)
    labels = dict(zip(table["image_id"], table["emotion_manual"]))
    assert labels == {
        # labelled, 6 frames: first neutral, last 3 anger, frames 2-3 not in the dataset
        "S005_001_00000001": "neutral",
        "S005_001_00000004": "anger",
        "S005_001_00000005": "anger",
        "S005_001_00000006": "anger",
        # unlabelled: the first frame only, as neutral
        "S005_002_00000001": "neutral",
        # labelled but short: the peak never swallows the neutral first frame
        "S010_004_00000001": "neutral",
        "S010_004_00000002": "happiness",
        "S010_005_00000001": "neutral",
        "S010_005_00000003": "surprise",
        "S010_005_00000004": "surprise",
        "S010_005_00000005": "surprise",
    }
    assert set(table["session"]) == {"S005_001", "S005_002", "S010_004", "S010_005"}
    assert dict(zip(table["image_id"], table["identity"]))["S010_005_00000003"] == "S010"
    assert all(Path(path).is_file() for path in table["path"])


def test_ckplus_last_frames_is_configurable_and_root_may_be_one_level_up(ckplus_tree):
    table = load_dataset("ckplus", ckplus_tree.parent, ckplus_last_frames=1)
    labelled = table[table["session"] == "S005_001"]
    assert list(labelled["image_id"]) == ["S005_001_00000001", "S005_001_00000006"]


@pytest.mark.parametrize(
    "n_frames, label, expected",
    [
        (0, "anger", []),
        (1, "anger", [(0, "anger")]),
        (1, None, [(0, "neutral")]),
        (4, "fear", [(0, "neutral"), (1, "fear"), (2, "fear"), (3, "fear")]),
        (10, "fear", [(0, "neutral"), (7, "fear"), (8, "fear"), (9, "fear")]),
    ],
)
def test_ckplus_frame_selection(n_frames, label, expected):
    assert adapters.ckplus_frame_labels(n_frames, label, 3) == expected


def test_ckplus_without_emotion_folder_says_where_the_labels_go(tmp_path):
    root = build_ckplus_tree(tmp_path, {("S005", "001"): (3, None)})
    shutil.rmtree(root / "Emotion")
    with pytest.raises(DatasetError, match="Emotion_labels.zip"):
        load_dataset("ckplus", root)


def test_ckplus_bad_code_is_reported(tmp_path):
    root = build_ckplus_tree(tmp_path, {("S005", "001"): (3, 9)})
    with pytest.raises(DatasetError, match="codes are 0-7"):
        load_dataset("ckplus", root)


# ---------------------------------------------------------------- folder


@pytest.fixture
def folder_tree(tmp_path):
    root = tmp_path / "people"
    write_image(root / "alice" / "happy" / "1.png")
    write_image(root / "alice" / "Sad" / "two words.jpg")
    write_image(root / "bob" / "3.png")
    write_image(root / "bob" / ".hidden.png")
    (root / "bob" / "notes.txt").write_text("a text file")
    (root / "bob" / "scan.dat").write_bytes(b"\x00garbage")  # odd extension: listed, judged by content later
    return root


def test_folder_layout(folder_tree):
    table = load_dataset("folder", folder_tree)
    assert_well_formed(table)
    rows = {row.image_id: row for row in table.itertuples()}
    assert set(rows) == {"alice__happy__1", "alice__Sad__two_words", "bob__3", "bob__scan.dat"}
    assert (rows["alice__happy__1"].identity, rows["alice__happy__1"].emotion_manual) == ("alice", "happiness")
    assert rows["alice__Sad__two_words"].emotion_manual == "sadness"
    assert (rows["bob__3"].identity, rows["bob__3"].emotion_manual) == ("bob", "")
    assert rows["bob__scan.dat"].path == str(folder_tree / "bob" / "scan.dat")


def test_folder_ids_are_stable(folder_tree):
    first, second = load_dataset("folder", folder_tree), load_dataset("folder", folder_tree)
    pd.testing.assert_frame_equal(first, second)


def test_unknown_expression_lists_allowed_names_and_the_config_key(folder_tree):
    write_image(folder_tree / "carol" / "bored" / "x.png")
    with pytest.raises(DatasetLabelError, match="bored") as caught:
        load_dataset("folder", folder_tree)
    message = str(caught.value)
    assert "expression_map" in message and "happiness" in message and "carol" in message
    assert isinstance(caught.value, UnknownExpressionError)


def test_expression_map_names_extra_labels(folder_tree):
    write_image(folder_tree / "carol" / "bored" / "x.png")
    table = load_dataset("folder", folder_tree, expression_map={"bored": "neutral"})
    assert table.set_index("image_id").loc["carol__bored__x", "emotion_manual"] == "neutral"


def test_folder_refuses_images_without_identity_folder(folder_tree):
    write_image(folder_tree / "loose.png")
    with pytest.raises(DatasetError, match="loose.png"):
        load_dataset("folder", folder_tree)


def test_folder_refuses_too_deep_trees(folder_tree):
    write_image(folder_tree / "alice" / "happy" / "day1" / "x.png")
    with pytest.raises(DatasetError, match="too deep"):
        load_dataset("folder", folder_tree)


def test_folder_adapter_on_an_emotion_tree_suggests_ckplus48(tmp_path):
    write_image(tmp_path / "anger" / "S001_001_00000001.png")
    write_image(tmp_path / "happy" / "S001_002_00000001.png")
    with pytest.raises(DatasetError, match="ckplus48"):
        load_dataset("folder", tmp_path)


def test_ckplus48_built_tree_and_misnamed_files(tmp_path):
    write_image(tmp_path / "CK+48" / "anger" / "S001_001_00000001.png")
    write_image(tmp_path / "CK+48" / "happy" / "S002_003_00000009.png")
    table = load_dataset("ckplus48", tmp_path)
    assert list(table["image_id"]) == ["S001_001_00000001", "S002_003_00000009"]
    assert list(table["emotion_manual"]) == ["anger", "happiness"]
    write_image(tmp_path / "CK+48" / "happy" / "holiday.png")
    with pytest.raises(DatasetError, match="holiday.png"):
        load_dataset("ckplus48", tmp_path)


def test_jaffe_built_tree_with_extensionless_file(tmp_path):
    write_image(tmp_path / "KA.AN1.39.tiff")
    write_image(tmp_path / "YM.SU2.58")
    table = load_dataset("jaffe", tmp_path)
    assert list(table["image_id"]) == ["KA.AN1.39", "YM.SU2.58"]
    assert list(table["emotion_manual"]) == ["anger", "surprise"]
    assert list(table["identity"]) == ["KA", "YM"]


# ---------------------------------------------------------------- csv and demo


@pytest.fixture
def csv_tree(tmp_path):
    write_image(tmp_path / "imgs" / "a.png")
    write_image(tmp_path / "imgs" / "b.png")
    pd.DataFrame(
        {
            "path": ["imgs/a.png", "imgs/b.png", "imgs/gone.png"],
            "identity": ["p1", "p1", "p2"],
            "emotion": ["happy", "", "AN"],
            "session": ["s1", "s1", ""],
        }
    ).to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def test_csv_from_folder_or_file(csv_tree):
    for root in (csv_tree, csv_tree / "labels.csv"):
        table = load_dataset("csv", root)
        assert_well_formed(table)
        assert list(table["image_id"]) == ["imgs__a", "imgs__b", "imgs__gone"]
        assert list(table["emotion_manual"]) == ["happiness", "", "anger"]
        assert list(table["session"]) == ["s1", "s1", ""]
        assert table["path"].iloc[0] == str(csv_tree / "imgs" / "a.png")
        assert table["path"].iloc[2] == str(csv_tree / "imgs" / "gone.png")  # kept: the faces stage reports it


def test_csv_custom_columns_and_no_emotion(tmp_path):
    write_image(tmp_path / "x.png")
    pd.DataFrame({"file": ["x.png"], "person": ["z"]}).to_csv(tmp_path / "t.csv", index=False)
    table = load_dataset("csv", tmp_path / "t.csv", csv_path_column="file", csv_identity_column="person")
    assert (table["identity"].iloc[0], table["emotion_manual"].iloc[0]) == ("z", "")


def test_csv_missing_column_names_the_config_key(csv_tree):
    with pytest.raises(DatasetError, match=r"'who'.*config key csv_columns \(csv_columns: \{identity: <column>\}\)"):
        load_dataset("csv", csv_tree, csv_identity_column="who")
    with pytest.raises(DatasetError, match=r"'mood'.*\{emotion: <column>\}"):
        load_dataset("csv", csv_tree, csv_emotion_column="mood")


def test_csv_empty_identity_is_an_error(tmp_path):
    pd.DataFrame({"path": ["a.png", "b.png"], "identity": ["p", ""]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DatasetError, match="lines \\[3\\]"):
        load_dataset("csv", tmp_path)


def test_demo_adapter_reads_generated_demo(small_demo):
    root, generated = small_demo
    table = load_dataset("demo", root)
    assert_well_formed(table)
    assert len(table) == len(generated) == 21
    assert list(table["identity"]) == list(generated["identity"])
    assert list(table["emotion_manual"]) == list(generated["emotion"])
    assert all(Path(path).is_file() for path in table["path"])


def test_demo_adapter_on_a_plain_folder_says_how_to_generate(tmp_path):
    with pytest.raises(DatasetError, match="generate_demo"):
        load_dataset("demo", tmp_path)


# ---------------------------------------------------------------- general errors and ids


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_missing_root_is_reported_for_every_adapter(adapter, tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*data_root"):
        load_dataset(adapter, tmp_path / "nowhere")


def test_unknown_adapter_lists_the_known_ones(tmp_path):
    with pytest.raises(DatasetError, match="ckplus48"):
        load_dataset("jafe", tmp_path)


def test_empty_dataset_is_an_error(tmp_path):
    (tmp_path / "alice").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        load_dataset("folder", tmp_path)


def test_guess_adapter(tmp_path, csv_tree):
    write_image(tmp_path / "jaffe" / "KA.AN1.39.tiff")
    assert adapters.guess_adapter(tmp_path / "jaffe") == "jaffe"
    assert adapters.guess_adapter(csv_tree) == "csv"
    assert adapters.guess_adapter(tmp_path / "void") is None


@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=20))
def test_ids_are_safe_and_unique_for_any_names(names):
    ids = adapters.unique_ids([adapters.safe_id(name) for name in names])
    assert len(set(ids)) == len(ids) == len(names)
    assert all(SAFE_ID.match(image_id) and not image_id.startswith(".") for image_id in ids)


def test_colliding_ids_get_numbered_in_order(tmp_path):
    write_image(tmp_path / "p" / "x.png")
    write_image(tmp_path / "p" / "x.jpg")
    table = load_dataset("folder", tmp_path)
    assert list(table["image_id"]) == ["p__x", "p__x-2"]
    assert np.all(table["path"].str.endswith(("x.jpg", "x.png")))
