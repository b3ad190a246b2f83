"""The aligned faces of an experiment decoded once into one array, so jobs memory-map it instead of decoding
every crop: ``faces/pixels_<size>.npy`` holds the usable faces (``status == ok``) in manifest order as
N x 3 x size x size uint8, exactly what decoding each crop (and resizing it to ``size``) gives, and
``faces/pixels_<size>.json`` beside it the image ids, the size and the sha1 of the manifest it was made from.
A job that opens the array checks that digest against the manifest it reads, so a stale cache stops the job
instead of training on other faces.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from emoverify import plain_arrays

FORMAT = 1  # bumped when the array's layout changes


class PixelCacheError(ValueError):
    """A pixel cache that does not belong to the manifest, size or faces a job asks for."""


def decode_crops(paths: Sequence, size: int, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Read aligned crops as N x size x size x 3 uint8 (RGB), each resized bilinearly when it is not
    ``size`` px."""
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            images[index] = np.asarray(image)
        if progress is not None:
            progress(index + 1, len(paths))
    return images


def manifest_digest(manifest_path) -> str:
    """sha1 of the manifest file's bytes: what a cache records and a job checks."""
    return hashlib.sha1(Path(manifest_path).read_bytes()).hexdigest()


def build_pixel_cache(manifest_path, size: int, array_path, meta_path, progress=None) -> dict:
    """Decode every usable face of the manifest at ``size`` into ``array_path`` (.npy) and write the record
    that ties it to the manifest into ``meta_path`` (.json); returns that record (with the decoding time)."""
    if int(size) < 1:
        raise PixelCacheError(f"pixel cache size must be a positive number of pixels, not {size}")
    digest = manifest_digest(manifest_path)  # before reading, so the record names the bytes that were decoded
    manifest = pd.read_csv(manifest_path, keep_default_na=False)  # as the jobs read it (splits.fold_data)
    missing = {"image_id", "status", "aligned_path"} - set(manifest.columns)
    if missing:
        raise PixelCacheError(f"{manifest_path} is not a faces manifest: it lacks {sorted(missing)}")
    usable = manifest[manifest["status"] == "ok"]
    started = time.perf_counter()
    images = decode_crops(usable["aligned_path"].tolist(), int(size), progress)
    np.save(array_path, np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    record = {
        "format": FORMAT,
        "manifest_sha1": digest,
        "rows": len(usable),
        "size": int(size),
        "image_ids": usable["image_id"].astype(str).tolist(),
    }
    Path(meta_path).write_text(json.dumps(record))
    return {**record, "seconds": time.perf_counter() - started}


class PixelCache:
    """A pixel cache opened for reading (memory-mapped), after checking it against the job's manifest."""

    def __init__(self, array_path, meta_path, manifest_path, size: int):
        record = json.loads(Path(meta_path).read_text())
        rerun = "rerun the face_pixels rule (snakemake --forcerun face_pixels ...)"
        if record.get("format") != FORMAT:
            raise PixelCacheError(f"{array_path} has format {record.get('format')}, this code reads {FORMAT}; {rerun}")
        if record["manifest_sha1"] != manifest_digest(manifest_path):
            raise PixelCacheError(
                f"{array_path} was made from another faces manifest than {manifest_path} (sha1 "
                f"{record['manifest_sha1'][:12]} recorded, the manifest is now {manifest_digest(manifest_path)[:12]}); "
                f"{rerun}"
            )
        if record["size"] != int(size):
            raise PixelCacheError(f"{array_path} holds {record['size']} px faces, the job needs {size} px")
        self.array = plain_arrays.map_npy(array_path, PixelCacheError)
        expected = (record["rows"], 3, record["size"], record["size"])
        if self.array.shape != expected or len(record["image_ids"]) != record["rows"]:
            raise PixelCacheError(
                f"{array_path} holds an array of shape {self.array.shape} and {len(record['image_ids'])} image ids, "
                f"its record says {expected}; {rerun}"
            )
        self.path = str(array_path)
        self.position = {image_id: index for index, image_id in enumerate(record["image_ids"])}

    def __len__(self) -> int:
        return len(self.position)

    def rows(self, image_ids: Sequence[str]) -> np.ndarray:
        """The faces of ``image_ids`` in that order, N x 3 x size x size uint8 (a copy in memory)."""
        missing = [image_id for image_id in image_ids if image_id not in self.position]
        if missing:
            raise PixelCacheError(
                f"{len(missing)} face(s) are not in {self.path} (e.g. {missing[:3]}): only faces with status ok are "
                "cached"
            )
        positions = np.array([self.position[image_id] for image_id in image_ids], dtype=np.intp)
        return np.ascontiguousarray(self.array[positions])
