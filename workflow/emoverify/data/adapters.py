"""Dataset adapters: turn a dataset on disk into one table of images.

``load_dataset(adapter, root)`` returns a DataFrame with the columns
``image_id, path, identity, emotion_manual, session``:

- ``image_id``: unique, filename-safe and stable (the same files give the same ids);
- ``path``: absolute path of the image file;
- ``emotion_manual``: a canonical expression name (see ``vocabulary``) or "" when
  the dataset has no label for the image;
- ``session``: images recorded together (a CK+ sequence), "" when unknown.

Which files count: every regular file in the places the layout names, except
hidden files (names starting with ".") and obvious non-images recognised by
their suffix (``NON_IMAGE_SUFFIXES``: text, tables, markup, archives, ...).
Everything else is listed, whatever its extension, because images are
recognised by content later; a file that turns out not to be an image shows up
in the faces manifest with status ``unreadable`` rather than disappearing.

Adapters (``ADAPTERS``):

- ``ckplus``: the official CK+ layout, ``cohn-kanade-images/S005/001/*.png`` and
  ``Emotion/S005/001/*_emotion.txt`` (codes 0-7), under ``root`` or one folder
  below it. Following common practice, a labelled sequence contributes its first
  frame as ``neutral`` and its last ``ckplus_last_frames`` frames with the
  sequence's label; a sequence without a label file contributes only its first
  frame, as ``neutral`` (the first frame of every CK+ sequence is neutral). The
  frames in between are not part of the dataset (they show the expression
  building up and carry no reliable label).
- ``ckplus48``: ``<emotion>/S<subject>_<sequence>_<frame>.png`` (under ``root``
  or one folder below it); identity = subject, session = subject_sequence.
- ``jaffe``: a flat folder of ``<ID>.<EXPR><take>.<n>[.tiff]`` files.
- ``folder``: ``<root>/<identity>/<emotion>/<image>`` or ``<root>/<identity>/<image>``
  (no label).
- ``csv``: a table (``root`` is the csv file, or a folder holding ``labels.csv``)
  with path and identity columns and optional emotion and ``session`` columns;
  relative paths are relative to the table's folder. Paths that leave that folder
  (``../other/x.png``, absolute paths: data on another disk) are read, and noted
  once with their count.
- ``demo``: a folder written by ``emoverify.data.demo.generate_demo`` (read like ``csv``).
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from emoverify.data.integrity import formula_problem, identity_spelling_problem, path_problem
from emoverify.vocabulary import EXPRESSIONS, UnknownExpressionError, canonical_expression

ADAPTERS: tuple[str, ...] = ("ckplus", "ckplus48", "jaffe", "folder", "csv", "demo")
COLUMNS: tuple[str, ...] = ("image_id", "path", "identity", "emotion_manual", "session")
NON_IMAGE_SUFFIXES = frozenset(
    {
        ".txt",
        ".csv",
        ".tsv",
        ".md",
        ".rst",
        ".json",
        ".yaml",
        ".yml",
        ".xml",
        ".html",
        ".htm",
        ".pdf",
        ".py",
        ".ini",
        ".db",
        ".log",
        ".zip",
        ".tar",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".7z",
        ".rar",
    }
)
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".webp", ".ppm", ".pgm", ".pnm", ".pbm", ".jp2"}
)
CKPLUS_CODES: dict[int, str] = {
    0: "neutral",
    1: "anger",
    2: "contempt",
    3: "disgust",
    4: "fear",
    5: "happiness",
    6: "sadness",
    7: "surprise",
}
LABELS_FILE = "labels.csv"

_CKPLUS48_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")
_JAFFE_NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d*)\.(\d+)(\.[A-Za-z0-9]+)?$")
_EXAMPLES_SHOWN = 5


class DatasetError(ValueError):
    """The dataset root is missing, empty or not laid out as the chosen adapter expects."""


class DatasetLabelError(DatasetError, UnknownExpressionError):
    """An expression label in the dataset that is not in the vocabulary nor in ``expression_map``."""


@dataclass(frozen=True)
class _Options:
    expression_map: Mapping[str, str] | None
    ckplus_last_frames: int
    csv_path_column: str
    csv_identity_column: str
    csv_emotion_column: str
    unknown: dict = field(default_factory=dict)  # unknown expression name -> where it was seen
    notes: list = field(default_factory=list)  # what the dataset stage reports without stopping


@dataclass(frozen=True)
class _Record:
    path: Path
    identity: str
    emotion: str
    session: str
    id_hint: str


def load_dataset(
    adapter: str,
    root: str | Path,
    *,
    expression_map: Mapping[str, str] | None = None,
    ckplus_last_frames: int = 3,
    csv_path_column: str = "path",
    csv_identity_column: str = "identity",
    csv_emotion_column: str = "emotion",
    identities_case_sensitive: bool = False,
) -> pd.DataFrame:
    """Read the dataset at ``root`` with the named adapter (see the module docstring).

    Identities equal up to case, spaces, invisible characters and Unicode form are one person spelt twice, an
    error (case apart when ``identities_case_sensitive`` says they are different people); so are cells a
    spreadsheet would run as formulas (``integrity.formula_problem``).

    Raises ``DatasetError`` (or its subclass ``DatasetLabelError`` for unknown
    expression names) with a message that says what to fix.
    """
    if adapter not in _LOADERS:
        raise DatasetError(f"unknown dataset adapter {adapter!r}; choose one of: {', '.join(ADAPTERS)}")
    if ckplus_last_frames < 1:
        raise DatasetError(f"ckplus_last_frames must be at least 1, got {ckplus_last_frames}")
    root = Path(os.path.abspath(Path(root).expanduser()))
    if not root.exists():
        raise DatasetError(_missing_root(adapter, root))
    options = _Options(expression_map, ckplus_last_frames, csv_path_column, csv_identity_column, csv_emotion_column)
    records = _LOADERS[adapter](root, options)
    if options.unknown:
        raise _unknown_expressions_error(options.unknown)
    if not records:
        raise DatasetError(
            f"no images found in {str(root)!r} with the {adapter} adapter; {_layout_hint(adapter, root)}"
        )
    table = _to_table(records)
    problem = (
        path_problem(table) or identity_spelling_problem(table, identities_case_sensitive) or formula_problem(table)
    )
    if problem:
        raise DatasetError(f"{str(root)!r}: {problem}")
    table.attrs["notes"] = list(options.notes)
    return table


# adapters with one fixed layout: a tree that plainly follows another of them is a mistake, not a variant
FIXED_LAYOUTS = ("ckplus", "ckplus48", "jaffe")


def layout_problem(adapter: str, root: str | Path) -> str | None:
    """Why ``root`` cannot hold the ``adapter`` dataset, judged from file names alone (cheap enough to run
    before any work starts); None when it looks right or only reading it can tell."""
    root = Path(os.path.abspath(Path(root).expanduser()))
    if not root.exists():
        return _missing_root(adapter, root)
    guess = guess_adapter(root) if adapter in FIXED_LAYOUTS else None
    if guess is not None and guess != adapter:
        return f"{str(root)!r} does not look like the {adapter} layout. {_layout_hint(adapter, root)}"
    return None


def guess_adapter(root: str | Path) -> str | None:
    """The adapter whose layout ``root`` seems to follow, or None when nothing fits."""
    root = Path(root)
    if root.is_file():
        return "csv" if root.suffix.lower() in (".csv", ".tsv") else None
    if not root.is_dir():
        return None
    if (root / LABELS_FILE).is_file():
        return "csv"
    if _find_ckplus_dirs(root) is not None:
        return "ckplus"
    if _find_emotion_folders_root(root, None) is not None:
        return "ckplus48"
    if any(_JAFFE_NAME.match(path.name) for path in candidate_files(root)):
        return "jaffe"
    if any(candidate_files(folder) or _subdirectories(folder) for folder in _subdirectories(root)):
        return "folder"
    return None


def candidate_files(folder: Path) -> list[Path]:
    """Regular files in ``folder`` (sorted) that may be images: not hidden, not an obvious non-image."""
    return sorted(
        entry
        for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() not in NON_IMAGE_SUFFIXES
    )


# ---------------------------------------------------------------- adapters


def _load_ckplus(root: Path, options: _Options) -> list[_Record]:
    found = _find_ckplus_dirs(root)
    if found is None:
        raise _layout_error(
            "ckplus", root, "a folder cohn-kanade-images/<subject>/<sequence>/*.png with Emotion/ beside it"
        )
    images_dir, emotion_dir = found
    if emotion_dir is None:
        raise DatasetError(
            f"found {str(images_dir)!r} but no Emotion/ folder beside it; the CK+ labels come in Emotion_labels.zip: "
            f"extract it so that {str(images_dir.parent / 'Emotion')!r} holds <subject>/<sequence>/*_emotion.txt"
        )
    records = []
    for subject_dir in _subdirectories(images_dir):
        for sequence_dir in _subdirectories(subject_dir):
            label = _ckplus_sequence_label(emotion_dir / subject_dir.name / sequence_dir.name)
            frames = candidate_files(sequence_dir)
            session = f"{subject_dir.name}_{sequence_dir.name}"
            for index, emotion in ckplus_frame_labels(len(frames), label, options.ckplus_last_frames):
                records.append(
                    _Record(frames[index], subject_dir.name, emotion, session, _strip_image_suffix(frames[index].name))
                )
    return records


def ckplus_frame_labels(n_frames: int, label: str | None, last_frames: int) -> list[tuple[int, str]]:
    """Which frames of a CK+ sequence enter the dataset, with their labels (see the module docstring)."""
    if n_frames == 0:
        return []
    if label is None:
        return [(0, "neutral")]
    if n_frames == 1:
        return [(0, label)]
    peak = min(last_frames, n_frames - 1)
    return [(0, "neutral")] + [(index, label) for index in range(n_frames - peak, n_frames)]


def _ckplus_sequence_label(label_dir: Path) -> str | None:
    label_files = sorted(label_dir.glob("*_emotion.txt")) if label_dir.is_dir() else []
    if not label_files:
        return None
    if len(label_files) > 1:
        raise DatasetError(f"several emotion files in {str(label_dir)!r}: {[f.name for f in label_files]}; keep one")
    text = label_files[0].read_text().strip()
    try:
        code = int(float(text))
    except ValueError:
        raise DatasetError(f"{str(label_files[0])!r} should hold one emotion code 0-7, found {text[:40]!r}") from None
    if code not in CKPLUS_CODES:
        raise DatasetError(f"{str(label_files[0])!r} holds code {code}; CK+ codes are 0-7 ({CKPLUS_CODES})")
    return CKPLUS_CODES[code]


def _find_ckplus_dirs(root: Path) -> tuple[Path, Path | None] | None:
    for base in [root, *_subdirectories(root)] if root.is_dir() else []:
        images_dir = base / "cohn-kanade-images"
        if images_dir.is_dir():
            emotion_dir = base / "Emotion"
            return images_dir, emotion_dir if emotion_dir.is_dir() else None
    return None


def _load_ckplus48(root: Path, options: _Options) -> list[_Record]:
    base = _find_emotion_folders_root(root, options.expression_map)
    if base is None:
        raise _layout_error(
            "ckplus48",
            root,
            "folders named after expressions (anger, happy, ...) holding S<subject>_<sequence>_<frame>.png",
        )
    stray = candidate_files(base)
    records, misnamed = [], []
    for folder in _subdirectories(base):
        emotion = _canonical(folder.name, options, f"folder {str(folder)!r}")
        if not candidate_files(folder):
            options.notes.append(f"empty expression folder skipped: {str(folder)!r}")
        for path in candidate_files(folder):
            match = _CKPLUS48_NAME.match(_strip_image_suffix(path.name))
            if match is None:
                misnamed.append(path)
                continue
            subject, sequence, _ = match.groups()
            records.append(_Record(path, subject, emotion, f"{subject}_{sequence}", match.group(0)))
    _reject_unexpected_files(
        stray + misnamed, "ckplus48", "named S<subject>_<sequence>_<frame>.<ext> inside an expression folder"
    )
    return records


def _find_emotion_folders_root(root: Path, expression_map) -> Path | None:
    """``root`` or its only child when that folder's subfolders are named after expressions."""
    if not root.is_dir():
        return None
    children = _subdirectories(root)
    for base in [root, *children] if len(children) == 1 else [root]:
        if any(_is_expression_name(folder.name, expression_map) for folder in _subdirectories(base)):
            return base
    return None


def _load_jaffe(root: Path, options: _Options) -> list[_Record]:
    if not root.is_dir():
        raise _layout_error("jaffe", root, "a folder of files named <ID>.<EXPR><take>.<n>.tiff (e.g. KA.AN1.39.tiff)")
    files = candidate_files(root)
    matches = [(path, _JAFFE_NAME.match(path.name)) for path in files]
    if not any(match for _, match in matches):
        raise _layout_error(
            "jaffe", root, "a flat folder of files named <ID>.<EXPR><take>.<n>.tiff (e.g. KA.AN1.39.tiff)"
        )
    _reject_unexpected_files(
        [path for path, match in matches if match is None], "jaffe", "named <ID>.<EXPR><take>.<n>.tiff"
    )
    records = []
    for path, match in matches:
        subject, code, take, number, _ = match.groups()
        emotion = _canonical(code, options, f"file {path.name!r}")
        records.append(_Record(path, subject, emotion, "", f"{subject}.{code}{take}.{number}"))
    return records


def _load_folder(root: Path, options: _Options) -> list[_Record]:
    expected = "<root>/<identity>/<emotion>/<image> or <root>/<identity>/<image>"
    identity_dirs = _subdirectories(root) if root.is_dir() else []
    if not identity_dirs:
        raise _layout_error("folder", root, f"one folder per identity: {expected}")
    if all(_is_expression_name(folder.name, options.expression_map) for folder in identity_dirs):
        raise DatasetError(
            f"the identity folders of {str(root)!r} are all named after expressions "
            f"({', '.join(f.name for f in identity_dirs[:_EXAMPLES_SHOWN])}); the folder adapter expects {expected}. "
            "For <emotion>/<image> layouts such as CK+48 use the ckplus48 adapter/preset."
        )
    _reject_unexpected_files(candidate_files(root), "folder", f"inside an identity folder ({expected})")
    records, empty = [], []
    for identity_dir in identity_dirs:
        found = _folder_identity_records(identity_dir, root, options)
        if not found:
            empty.append(identity_dir.name)
        records += found
    if empty:
        options.notes.append(f"{len(empty)} empty identity folder(s) skipped: {', '.join(empty)}")
    return records


def _folder_identity_records(identity_dir: Path, root: Path, options: _Options) -> list[_Record]:
    identity = identity_dir.name
    records = [_Record(path, identity, "", "", _relative_hint(path, root)) for path in candidate_files(identity_dir)]
    for emotion_dir in _subdirectories(identity_dir):
        emotion = _canonical(emotion_dir.name, options, f"folder {str(emotion_dir)!r}")
        nested = _subdirectories(emotion_dir)
        if nested:
            raise DatasetError(
                f"{str(nested[0])!r} is nested too deep for the folder adapter, which reads "
                "<root>/<identity>/<emotion>/<image>; flatten it or list the images in a csv (csv adapter)"
            )
        records += [
            _Record(path, identity, emotion, "", _relative_hint(path, root)) for path in candidate_files(emotion_dir)
        ]
    return records


def _load_csv(root: Path, options: _Options) -> list[_Record]:
    table_path = root if root.is_file() else root / LABELS_FILE
    if not table_path.is_file():
        raise _layout_error("csv", root, f"a csv file, or a folder holding {LABELS_FILE}")
    table = _read_table(table_path)
    _require_columns(table, table_path, options)
    has_emotion = options.csv_emotion_column in table.columns
    has_session = "session" in table.columns
    base = table_path.parent
    records, missing_identity, row_numbers = [], [], []
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        identity = str(row[options.csv_identity_column]).strip()
        if not identity:
            missing_identity.append(row_number)
            continue
        relative = Path(str(row[options.csv_path_column]).strip())
        path = relative if relative.is_absolute() else base / relative
        where = f"{table_path.name} line {row_number}"
        emotion = _canonical(row[options.csv_emotion_column], options, where) if has_emotion else ""
        session = str(row["session"]).strip() if has_session else ""
        records.append(
            _Record(Path(os.path.abspath(path)), identity, emotion, session, _strip_image_suffix(relative.as_posix()))
        )
        row_numbers.append(row_number)
    _refuse_other_than_files(records, row_numbers, table_path)
    _note_paths_outside(records, base, table_path, options)
    if missing_identity:
        raise DatasetError(
            f"{str(table_path)!r}: empty {options.csv_identity_column!r} on lines {missing_identity[:_EXAMPLES_SHOWN]}"
            f"{' ...' if len(missing_identity) > _EXAMPLES_SHOWN else ''}; every image needs an identity"
        )
    return records


def _refuse_other_than_files(records: list[_Record], row_numbers: list[int], table_path: Path) -> None:
    """Stop on rows naming a directory, a device, a FIFO or a socket: only regular files are read (hashing
    /dev/zero never ends, opening a FIFO waits for a writer). A missing file is left to the faces stage, which
    records it ``missing``."""
    found = [
        f"line {number}: {str(record.path)!r} ({kind})"
        for record, number in zip(records, row_numbers)
        if (kind := file_kind(record.path)) is not None
    ]
    if found:
        more = f" and {len(found) - _EXAMPLES_SHOWN} more" if len(found) > _EXAMPLES_SHOWN else ""
        raise DatasetError(
            f"{str(table_path)!r} lists {len(found)} path(s) that are not image files: "
            f"{'; '.join(found[:_EXAMPLES_SHOWN])}{more}. List one image file per row."
        )


def file_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (symlinks followed), else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]
    kinds += [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _note_paths_outside(records: list[_Record], base: Path, table_path: Path, options: _Options) -> None:
    """One note with the count of rows whose image lies outside the table's folder (allowed, but worth a look:
    a stray ``../`` reads whatever it reaches); symbolic links are followed first, so a link inside the folder
    to a file outside it is counted, shown as ``link -> target``."""
    real_base = Path(os.path.realpath(base))
    outside = []
    for record in records:
        target = Path(os.path.realpath(record.path))
        if not target.is_relative_to(real_base):
            outside.append(str(record.path) if target == record.path else f"{record.path} -> {target}")
    if outside:
        more = f" and {len(outside) - _EXAMPLES_SHOWN} more" if len(outside) > _EXAMPLES_SHOWN else ""
        options.notes.append(
            f"{len(outside)} path(s) of {str(table_path)!r} lie outside its folder {str(base)!r}: "
            f"{', '.join(outside[:_EXAMPLES_SHOWN])}{more}"
        )


def _read_table(table_path: Path) -> pd.DataFrame:
    separator = "\t" if table_path.suffix.lower() == ".tsv" else ","
    try:
        table = pd.read_csv(table_path, dtype=str, keep_default_na=False, sep=separator)
        with open(table_path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=separator), [])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"cannot read the table {str(table_path)!r}: {error}") from None
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:  # pandas would rename the second to "identity.1" and read only the first
        places = {name: [number for number, other in enumerate(header, start=1) if other == name] for name in repeated}
        shown = ", ".join(f"{name!r} (columns {numbers})" for name, numbers in places.items())
        raise DatasetError(f"{str(table_path)!r} names a column more than once: {shown}; keep one of each")
    return table


def _require_columns(table: pd.DataFrame, table_path: Path, options: _Options) -> None:
    required = {"path": options.csv_path_column, "identity": options.csv_identity_column}
    if options.csv_emotion_column != "emotion":  # a non-default name was asked for explicitly: it must exist
        required["emotion"] = options.csv_emotion_column
    missing = {role: column for role, column in required.items() if column not in table.columns}
    if missing:
        roles = ", ".join(f"{role}: <column>" for role in missing)
        raise DatasetError(
            f"{str(table_path)!r} has no column {' or '.join(map(repr, missing.values()))} "
            f"(columns: {', '.join(table.columns)}); name the right columns with the config key csv_columns "
            f"(csv_columns: {{{roles}}})"
        )


def _load_demo(root: Path, options: _Options) -> list[_Record]:
    if not (root / LABELS_FILE).is_file():
        raise DatasetError(
            f"{str(root)!r} is not a demo dataset (no {LABELS_FILE}); create it with "
            "emoverify.data.demo.generate_demo(folder), which the workflow's demo rule runs for you"
        )
    return _load_csv(root / LABELS_FILE, options)


_LOADERS: dict[str, Callable[[Path, _Options], list[_Record]]] = {
    "ckplus": _load_ckplus,
    "ckplus48": _load_ckplus48,
    "jaffe": _load_jaffe,
    "folder": _load_folder,
    "csv": _load_csv,
    "demo": _load_demo,
}


# ---------------------------------------------------------------- helpers


def _to_table(records: list[_Record]) -> pd.DataFrame:
    ids = unique_ids([safe_id(record.id_hint) for record in records])
    table = pd.DataFrame(
        {
            "image_id": ids,
            "path": [str(record.path) for record in records],
            "identity": [record.identity for record in records],
            "emotion_manual": [record.emotion for record in records],
            "session": [record.session for record in records],
        },
        columns=list(COLUMNS),
    )
    return table


def safe_id(text: str) -> str:
    """A filename-safe id: path separators become "__", other unsafe characters "_"."""
    text = re.sub(r"[\\/]+", "__", text)
    text = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).lstrip(".+-")  # no leading +/-: no formula in a table
    return text or "image"


def unique_ids(ids: list[str]) -> list[str]:
    """Make ids unique: the first keeps its name, later repeats get "-2", "-3", ... in order."""
    taken: set[str] = set()
    result = []
    for image_id in ids:
        candidate, repeat = image_id, 1
        while candidate in taken:
            repeat += 1
            candidate = f"{image_id}-{repeat}"
        taken.add(candidate)
        result.append(candidate)
    return result


def _strip_image_suffix(name: str) -> str:
    suffix = Path(name).suffix
    return name[: -len(suffix)] if suffix.lower() in IMAGE_SUFFIXES else name


def _relative_hint(path: Path, root: Path) -> str:
    return _strip_image_suffix(path.relative_to(root).as_posix())


def _subdirectories(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def _is_expression_name(name: str, expression_map) -> bool:
    try:
        return canonical_expression(name, expression_map) != ""
    except UnknownExpressionError:
        return False


def _canonical(name, options: _Options, where: str) -> str:
    """The canonical expression; an unknown name is collected (all are reported at once) and gives ""."""
    try:
        return canonical_expression(name, options.expression_map)
    except UnknownExpressionError:
        options.unknown.setdefault(str(name).strip(), []).append(where)
        return ""


def _unknown_expressions_error(unknown: dict) -> DatasetLabelError:
    names = [
        f"{name!r} ({places[0]}{f' and {len(places) - 1} more' if len(places) > 1 else ''})"
        for name, places in sorted(unknown.items())
    ]
    example = next(iter(sorted(unknown)))
    return DatasetLabelError(
        f"{len(unknown)} unknown expression label(s): {'; '.join(names)}. Allowed: {', '.join(EXPRESSIONS)} "
        "(or an alias such as happy, angry, AN, HA); map other names with the config key expression_map, "
        f"e.g. expression_map: {{{example}: neutral}}"
    )


def _reject_unexpected_files(paths: list[Path], adapter: str, expected: str) -> None:
    if not paths:
        return
    shown = ", ".join(repr(str(path)) for path in paths[:_EXAMPLES_SHOWN])
    more = f" and {len(paths) - _EXAMPLES_SHOWN} more" if len(paths) > _EXAMPLES_SHOWN else ""
    raise DatasetError(
        f"{len(paths)} file(s) do not follow the {adapter} layout (expected files {expected}): {shown}{more}. "
        "Move or rename them, or list the images in a csv file and use the csv adapter."
    )


def _missing_root(adapter: str, root: Path) -> str:
    return (
        f"data_root {str(root)!r} does not exist; set data_root in the config "
        f"(or --config data_root=/path/to/dataset) to the {adapter} dataset's folder"
    )


def _layout_error(adapter: str, root: Path, expected: str) -> DatasetError:
    return DatasetError(
        f"{str(root)!r} does not look like the {adapter} layout: expected {expected}. {_layout_hint(adapter, root)}"
    )


def _layout_hint(adapter: str, root: Path) -> str:
    guess = guess_adapter(root)
    if guess is not None and guess != adapter:
        return f"It looks like the {guess} layout: use the {guess} adapter (preset workflow/presets/{guess}.yaml)."
    return f"Check data_root; known adapters: {', '.join(ADAPTERS)}; canonical expressions: {', '.join(EXPRESSIONS)}."
