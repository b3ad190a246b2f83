"""The faces stage: detect each image's face with MTCNN, align it, and account for every image.

``prepare_faces(table, out_dir)`` returns a manifest with one row per input row,
always, whose ``status`` is one of ``STATUS_REASONS``:

- ``ok``: the aligned crop was written to ``aligned_path``;
- ``missing``: the file does not exist;
- ``unreadable``: the file is not a decodable image (``reason_detail`` says why);
- ``no_face``: MTCNN found no face, neither in the image nor in an upscaled, padded copy;
- ``low_probability``: the best face's probability is below ``min_probability``, also
  in the upscaled, padded copy (box and landmarks are still recorded);
- ``align_failed``: the landmarks could not define an alignment;
- ``detector_error``: MTCNN itself failed on the image (``reason_detail``);
- ``several_faces``: two or more faces above ``min_probability`` and ``multiple: reject``.

With ``detector="mtcnn"`` images are read by content (``imageio.read_rgb``),
grouped by size and detected in batches (on CUDA when ``device`` says so). ``n_faces``
records how many faces MTCNN returned and ``face_taken`` which one was kept and why.
Faces below ``min_probability`` do not compete; when two or more remain, ``multiple``
decides: ``reject`` (the default: the image's labels name one person and nothing says
which face that is, so the image is left out with status ``several_faces``),
``largest`` (the largest box) or ``central`` (the box nearest the image centre).
A single face, or none above the threshold, keeps the most probable (ties: the
most central). Alignment maps
the five landmarks onto the ArcFace template (``align``). With ``detector="none"``
the whole image is resized to ``size`` x ``size`` (for tight crops such as
CK+48; non-square images are stretched) and box/landmark columns are empty.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from emoverify.data.imageio import UnreadableImageError, read_rgb
from emoverify.faces.align import AlignmentError, align_face
from emoverify.faces.cache import FaceCache
from emoverify.model.device import resolve_device
from emoverify.progress import ProgressCallback
from emoverify.registry import FACE_DETECTORS, FACE_POLICIES

STATUS_REASONS: dict[str, str] = {
    "ok": "face found (or detector none) and the aligned crop written",
    "missing": "the image file does not exist",
    "unreadable": "the file could not be decoded as an image",
    "no_face": "MTCNN found no face, also not in an upscaled, padded copy",
    "low_probability": "the best face's detection probability is below min_probability, also after the retry",
    "align_failed": "the landmarks could not define an alignment",
    "detector_error": "MTCNN failed on this image",
    "several_faces": "two or more faces above min_probability and multiple: reject (whose labels are they?)",
}
INPUT_COLUMNS = ("image_id", "path", "identity", "emotion_manual", "session")
BOX_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2")
LANDMARK_COLUMNS = tuple(f"lm_{axis}{index}" for index in range(5) for axis in ("x", "y"))
MANIFEST_COLUMNS = (
    *INPUT_COLUMNS,
    "status",
    "det_prob",
    "n_faces",
    "face_taken",
    *BOX_COLUMNS,
    *LANDMARK_COLUMNS,
    "aligned_path",
    "reason_detail",
)
# MTCNN's smallest face is 20 px (its default min_face_size); smaller images cannot be searched directly.
_MIN_SEARCHABLE_SIDE = 20
_RETRY_PAD_FRACTION = 0.25
_RETRY_TARGET_SIDE = 320
_RETRY_MAX_SIDE = 2400
_PENDING_BATCHES = 4  # how many batches' worth of decoded images may wait for same-size partners
# the longest side MTCNN searches; larger images are searched on a scaled copy (faces there are far above
# MTCNN's 20 px minimum) and aligned on the full image
DETECTION_MAX_SIDE = 1600


class FacesError(ValueError):
    """Invalid arguments to the faces stage."""


class NoUsableFacesError(FacesError):
    """Not a single image gave a usable face."""


@dataclass(frozen=True)
class FaceSettings:
    """How faces are found and cropped: the config's ``faces`` section (:meth:`from_config`) and whether a
    weak detection is retried on an upscaled, padded copy. Checked when built."""

    detector: str = "mtcnn"
    size: int = 112
    margin: float = 0.0
    min_probability: float = 0.9
    batch_size: int = 16
    multiple: str = "reject"
    upscale_retry: bool = True

    @classmethod
    def from_config(cls, section: dict) -> FaceSettings:
        """The settings of the config's ``faces`` section; a key this class does not know is named."""
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise FacesError(f"faces settings do not know {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**section)

    def __post_init__(self):
        if self.detector not in FACE_DETECTORS:
            raise FacesError(f"unknown detector {self.detector!r}; use one of {', '.join(FACE_DETECTORS)}")
        if self.multiple not in FACE_POLICIES:
            raise FacesError(f"unknown multiple-faces policy {self.multiple!r}; use one of {', '.join(FACE_POLICIES)}")
        if int(self.size) < 16:
            raise FacesError(f"face size must be at least 16 pixels, got {self.size}")
        if self.margin < 0:
            raise FacesError(f"margin must be >= 0, got {self.margin}")
        if int(self.batch_size) < 1:
            raise FacesError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.min_probability <= 1.0:
            raise FacesError(f"min_probability must lie in [0, 1], got {self.min_probability}")

    def cache_key(self) -> dict:
        """What an aligned face depends on besides the image's content."""
        return {
            "detector": self.detector,
            "size": self.size,
            "margin": self.margin,
            "multiple": self.multiple,
            "min_probability": self.min_probability,
            "upscale_retry": self.upscale_retry,
        }


@dataclass
class _Detection:
    """Every face MTCNN returned for one image, and the one kept (``chosen``)."""

    probs: np.ndarray  # (n,)
    boxes: np.ndarray  # (n, 4): x1, y1, x2, y2
    points: np.ndarray  # (n, 5, 2)
    chosen: int = 0
    taken: str = "the only face"

    @property
    def prob(self) -> float:
        return float(self.probs[self.chosen])

    @property
    def box(self) -> np.ndarray:
        return self.boxes[self.chosen]

    @property
    def landmarks(self) -> np.ndarray:
        return self.points[self.chosen]

    @property
    def n_faces(self) -> int:
        return len(self.probs)


def prepare_faces(
    table: pd.DataFrame,
    out_dir: str | Path,
    settings: FaceSettings | None = None,
    *,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Detect, align and save one face per image of ``table``; return the manifest (see module docstring).

    ``table`` is a dataset table (``datasets.load_dataset``); ``settings`` default to ``FaceSettings()``.
    Crops are written to
    ``out_dir/<image_id>.png``. ``device``: "cpu", "cuda", "cuda:N" or "auto". With ``cache_dir`` and a
    ``content_sha1`` column (``data.integrity``), images whose content was aligned before with the same
    settings are taken from the cache; only new or changed images are read and detected (an entry the cache
    does not trust is detected again, and ``manifest.attrs["notes"]`` says which).
    ``progress(done, total)`` is called as those images are finished (an ``emoverify.progress.Progress``).
    """
    faces = settings if settings is not None else FaceSettings()
    _check_table(table)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [_initial_row(record) for record in table[list(INPUT_COLUMNS)].to_dict("records")]
    counter = _Counter(len(rows), progress)
    settings = _Settings(out_dir, faces, counter)
    cache = FaceCache(cache_dir, faces.cache_key()) if cache_dir is not None else None
    contents = list(table["content_sha1"]) if cache is not None and "content_sha1" in table.columns else []
    todo = [row for row, content in zip(rows, contents) if not cache.restore(row, content, out_dir)]
    todo = todo if contents else rows
    counter.total = len(todo)
    counter.add(0)
    if faces.detector == "none":
        for row in todo:
            _resize_whole_image(row, settings)
            settings.counter.add(1)
    else:
        _detect_and_align(todo, settings, get_mtcnn(_device_name(device)) if todo else None, faces.batch_size)
    if contents:
        by_id = dict(zip(table["image_id"], contents))
        for row in todo:
            cache.store(row, by_id[row["image_id"]])
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    numeric = ["det_prob", *BOX_COLUMNS, *LANDMARK_COLUMNS]
    manifest[numeric] = manifest[numeric].astype(float)
    manifest["n_faces"] = manifest["n_faces"].astype("Int64")
    manifest.attrs["from_cache"] = len(rows) - len(todo)
    manifest.attrs["notes"] = cache.notes() if cache is not None else []
    return manifest


def status_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Count the manifest's rows per status (known statuses in their documented order, zeros left out)."""
    counts = manifest["status"].value_counts()
    order = [status for status in STATUS_REASONS if status in counts] + sorted(set(counts.index) - set(STATUS_REASONS))
    return pd.DataFrame({"status": order, "count": [int(counts[status]) for status in order]})


def summary_line(manifest: pd.DataFrame, summary_path) -> str:
    """One console line: "faces: 3,373 ok, 4 no_face, 0 unreadable; see .../status_summary.csv"."""
    counts = manifest["status"].value_counts()
    shown = ["ok", "missing", "unreadable", "no_face", "several_faces"]
    shown += [status for status in counts.index if status not in shown]
    parts = ", ".join(f"{int(counts.get(status, 0)):,} {status}" for status in shown)
    cached = manifest.attrs.get("from_cache", 0)
    reused = f" ({cached:,} taken from the cache, {len(manifest) - cached:,} read and detected)" if cached else ""
    return f"faces: {parts}{reused}; see {summary_path}"


def require_usable(manifest: pd.DataFrame) -> int:
    """Return the number of ``ok`` rows; raise ``NoUsableFacesError`` when there are none."""
    usable = int((manifest["status"] == "ok").sum())
    if usable == 0:
        summary = ", ".join(f"{row.status}: {row.count}" for row in status_summary(manifest).itertuples())
        raise NoUsableFacesError(
            f"none of the {len(manifest)} images gave a usable face ({summary or 'no images'}). Check that data_root "
            "points at the images and the adapter matches the layout (status missing/unreadable); for tight face "
            "crops such as CK+48 set detector: none (status no_face); or lower min_probability "
            "(status low_probability)."
        )
    return usable


def _device_name(device: str) -> str:
    """The torch device MTCNN runs on ("auto" picks CUDA when present), as a FacesError when impossible."""
    try:
        return str(resolve_device(device))
    except (ValueError, RuntimeError) as error:
        raise FacesError(str(error)) from None


@functools.lru_cache(maxsize=4)
def get_mtcnn(device: str = "cpu"):
    """A facenet-pytorch MTCNN (bundled weights) that returns every face with its landmarks."""
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device=device)


# ---------------------------------------------------------------- per-row work


@dataclass
class _Counter:
    """Images finished so far, reported to the progress callback."""

    total: int
    progress: ProgressCallback | None
    done: int = 0

    def add(self, finished: int) -> None:
        self.done += finished
        if self.progress is not None:
            self.progress(self.done, self.total)


@dataclass(frozen=True)
class _Settings:
    """One call's settings, where its crops go, and its progress counter."""

    out_dir: Path
    faces: FaceSettings
    counter: _Counter


def _initial_row(record: dict) -> dict:
    row = {column: np.nan for column in MANIFEST_COLUMNS}
    row.update({column: str(record[column]) for column in INPUT_COLUMNS})
    row.update(status="", n_faces=pd.NA, face_taken="", aligned_path="", reason_detail="")
    return row


def _read_for_row(row: dict) -> np.ndarray | None:
    """Decode the row's image, or record why it cannot be and return None."""
    try:
        return read_rgb(row["path"])
    except UnreadableImageError as error:
        row["status"] = "missing" if error.reason == "file not found" else "unreadable"
        row["reason_detail"] = error.reason
        return None


def _resize_whole_image(row: dict, settings: _Settings) -> None:
    image = _read_for_row(row)
    if image is None:
        return
    height, width = image.shape[:2]
    resized = Image.fromarray(image).resize((settings.faces.size, settings.faces.size), Image.Resampling.BICUBIC)
    row.update(box_x1=0.0, box_y1=0.0, box_x2=float(width), box_y2=float(height))
    _save_crop(row, np.asarray(resized), settings)


def _detect_and_align(rows: list[dict], settings: _Settings, mtcnn, batch_size: int) -> None:
    """Read images in order, batch MTCNN over equal sizes, and finish each row."""
    pending: dict[tuple[int, int], list[tuple[dict, np.ndarray]]] = {}
    waiting = 0
    for row in rows:
        image = _read_for_row(row)
        if image is None:
            settings.counter.add(1)
            continue
        group = pending.setdefault(image.shape[:2], [])
        group.append((row, image))
        waiting += 1
        if len(group) >= batch_size:
            _finish_group(pending.pop(image.shape[:2]), settings, mtcnn)
            waiting -= len(group)
        elif waiting >= batch_size * _PENDING_BATCHES:  # bound memory when sizes rarely repeat
            for group in pending.values():
                _finish_group(group, settings, mtcnn)
            pending, waiting = {}, 0
    for group in pending.values():
        _finish_group(group, settings, mtcnn)


def _finish_group(group: list[tuple[dict, np.ndarray]], settings: _Settings, mtcnn) -> None:
    """Detect on the group's images (equal sizes) scaled down to ``DETECTION_MAX_SIDE``, then align each face on
    its full-resolution image with the box and landmarks mapped back."""
    rows = [row for row, _ in group]
    images = [image for _, image in group]
    scale = detection_scale(*images[0].shape[:2])
    searched = images if scale == 1.0 else [_scaled(image, scale) for image in images]
    for row, image, small, detection in zip(rows, images, searched, _detect_batch(mtcnn, searched, rows)):
        if settings.faces.upscale_retry and not row["status"] and _is_weak(detection, settings):
            detection = _stronger(detection, _detect_upscaled(mtcnn, small, row))
        if not row["status"]:  # else detector_error already recorded
            _finish_row(row, image, _mapped_back(detection, scale), settings)
    settings.counter.add(len(group))


def detection_scale(height: int, width: int) -> float:
    """The factor an image is scaled by before MTCNN searches it: 1 up to ``DETECTION_MAX_SIDE``, so that the
    detector's memory is bounded by the cap, not by the image (an 81-megapixel photo took gigabytes)."""
    longest = max(height, width)
    return 1.0 if longest <= DETECTION_MAX_SIDE else DETECTION_MAX_SIDE / longest


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def _mapped_back(detection: _Detection | None, scale: float) -> _Detection | None:
    if detection is None or scale == 1.0:
        return detection
    detection.boxes = detection.boxes / scale
    detection.points = detection.points / scale
    return detection


def _is_weak(detection: _Detection | None, settings: _Settings) -> bool:
    return detection is None or detection.probs.max() < settings.faces.min_probability


def _stronger(first: _Detection | None, second: _Detection | None) -> _Detection | None:
    if first is None or (second is not None and second.probs.max() > first.probs.max()):
        return second
    return first


def _finish_row(row: dict, image: np.ndarray, detection: _Detection | None, settings: _Settings) -> None:
    if detection is None:
        row["status"] = "no_face"
        row["n_faces"] = 0
        return
    _choose_face(detection, settings, image.shape[1], image.shape[0])
    _record_detection(row, detection)
    if detection.taken.startswith("none"):
        row["status"] = "several_faces"
        row["reason_detail"] = f"{detection.taken}; set faces.multiple to largest or central to keep one"
        return
    if detection.prob < settings.faces.min_probability:
        row["status"] = "low_probability"
        row["reason_detail"] = (
            f"best face probability {detection.prob:.3f} < min_probability {settings.faces.min_probability}"
        )
        return
    try:
        crop = align_face(image, detection.landmarks, settings.faces.size, settings.faces.margin)
    except AlignmentError as error:
        row["status"] = "align_failed"
        row["reason_detail"] = str(error)
        return
    _save_crop(row, crop, settings)


def _record_detection(row: dict, detection: _Detection) -> None:
    row["det_prob"] = detection.prob
    row["n_faces"] = detection.n_faces
    row["face_taken"] = detection.taken
    row.update(zip(BOX_COLUMNS, (float(v) for v in detection.box)))
    row.update(zip(LANDMARK_COLUMNS, (float(v) for v in detection.landmarks.ravel())))


def _save_crop(row: dict, crop: np.ndarray, settings: _Settings) -> None:
    target = settings.out_dir / f"{row['image_id']}.png"
    Image.fromarray(crop).save(target)
    row["status"] = "ok"
    row["aligned_path"] = str(target)


# ---------------------------------------------------------------- detection


def _detect_batch(mtcnn, images: list[np.ndarray], rows: list[dict]) -> list[_Detection | None]:
    """MTCNN on equal-sized images; on a batch failure, one at a time so only the culprit is marked."""
    height, width = images[0].shape[:2]
    if min(height, width) < _MIN_SEARCHABLE_SIDE:
        return [None] * len(images)
    try:
        return _run_mtcnn(mtcnn, np.stack(images))
    except (RuntimeError, ValueError) as error:
        if len(images) > 1:
            return [_detect_batch(mtcnn, [image], [row])[0] for image, row in zip(images, rows)]
        rows[0]["status"] = "detector_error"
        rows[0]["reason_detail"] = f"{type(error).__name__}: {error}"
        return [None]


def _run_mtcnn(mtcnn, batch: np.ndarray) -> list[_Detection | None]:
    boxes, probs, points = mtcnn.detect(batch, landmarks=True)
    return [_all_faces(box, prob, landmarks) for box, prob, landmarks in zip(boxes, probs, points)]


def _all_faces(boxes, probs, landmarks) -> _Detection | None:
    if boxes is None or len(boxes) == 0:
        return None
    return _Detection(
        np.asarray(probs, dtype=np.float64),
        np.asarray(boxes, dtype=np.float64),
        np.asarray(landmarks, dtype=np.float64).reshape(len(boxes), 5, 2),
    )


def _choose_face(detection: _Detection, settings: _Settings, width: int, height: int) -> None:
    """Set which face is kept and why (see the module docstring): faces above min_probability compete under
    the ``multiple`` policy; otherwise the most probable, the most central among equals."""
    centres = (detection.boxes[:, :2] + detection.boxes[:, 2:]) / 2
    off_centre = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)
    areas = np.prod(np.clip(detection.boxes[:, 2:] - detection.boxes[:, :2], 0, None), axis=1)
    confident = np.flatnonzero(detection.probs >= settings.faces.min_probability)
    found = f"{detection.n_faces} found" if detection.n_faces > 1 else ""
    if len(confident) < 2:
        order = range(detection.n_faces)
        detection.chosen = min(order, key=lambda i: (-round(detection.probs[i], 4), off_centre[i]))
        if detection.n_faces == 1:
            detection.taken = "the only face"
        elif len(confident) == 1:
            detection.taken = f"the only face above min_probability ({found})"
        else:
            detection.taken = f"the most probable, none above min_probability ({found})"
        return
    if settings.faces.multiple == "largest":
        detection.chosen = int(max(confident, key=lambda i: (areas[i], -off_centre[i])))
    else:  # central, and the face recorded for a rejected image
        detection.chosen = int(min(confident, key=lambda i: (off_centre[i], -areas[i])))
    detection.taken = {
        "largest": f"the largest of {len(confident)} faces above min_probability",
        "central": f"the most central of {len(confident)} faces above min_probability",
        "reject": f"none: {len(confident)} faces above min_probability (multiple: reject)",
    }[settings.faces.multiple]


def _detect_upscaled(mtcnn, image: np.ndarray, row: dict) -> _Detection | None:
    """Retry on a padded, enlarged copy (tight crops and small faces); coordinates mapped back."""
    height, width = image.shape[:2]
    pad = int(round(_RETRY_PAD_FRACTION * max(height, width)))
    fill = tuple(int(v) for v in np.median(image.reshape(-1, 3), axis=0))
    canvas = Image.new("RGB", (width + 2 * pad, height + 2 * pad), fill)
    canvas.paste(Image.fromarray(image), (pad, pad))
    longest = max(canvas.size)
    scale = min(max(2.0, _RETRY_TARGET_SIDE / longest), max(1.0, _RETRY_MAX_SIDE / longest))
    enlarged = canvas.resize((round(canvas.width * scale), round(canvas.height * scale)), Image.Resampling.BICUBIC)
    detection = _detect_batch(mtcnn, [np.asarray(enlarged)], [row])[0]
    if detection is None:
        return None
    detection.boxes = detection.boxes / scale - pad
    detection.points = detection.points / scale - pad
    return detection


def _check_table(table: pd.DataFrame) -> None:
    missing = [column for column in INPUT_COLUMNS if column not in table.columns]
    if missing:
        raise FacesError(f"the image table lacks columns {missing}; build it with emoverify.data.adapters.load_dataset")
    duplicated = table["image_id"][table["image_id"].duplicated()].unique().tolist()
    if duplicated:
        raise FacesError(f"image_id values must be unique (they name the crops); repeated: {duplicated[:5]}")
