"""The second bad-input matrix, messages: a full disk, crafted array files, a lock record without its start
time, and measurement records that name a machine's folders. Each says what happened and what to do."""

import contextlib
import json
import os
import subprocess

import numpy as np
import pytest
import torch

from emoverify import atomic, runlock
from snakemake_helpers import ROOT


@contextlib.contextmanager
def tiny_file_system(folder, size="64k"):
    """A ``size`` tmpfs mounted at ``folder`` (root only; skipped elsewhere)."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)  # a traceback may hold a file open


def test_a_full_disk_during_torch_save_says_no_space_left_naming_the_file(tmp_path):
    with tiny_file_system(tmp_path / "disk") as disk:
        target = disk / "model.pt"
        with pytest.raises(OSError, match=rf"no space left on device while writing {target} \(") as error:
            with atomic.replaced_when_complete(target) as partial:
                torch.save({"weights": torch.zeros(100_000)}, partial)
        assert "free some space" in str(error.value) and os.listdir(disk) == []


def test_a_full_disk_during_a_text_write_says_no_space_left(tmp_path):
    with tiny_file_system(tmp_path / "disk") as disk:
        with pytest.raises(OSError, match=r"no space left on device while writing .*history.csv"):
            atomic.write_text(disk / "history.csv", "x" * 200_000)
        assert os.listdir(disk) == []


def object_npz(path):
    np.savez(path, image_id=np.array(["a"]), descriptors=np.array([{"x": 1}], dtype=object))
    return path


def test_a_crafted_embeddings_file_with_object_arrays_is_refused_by_name(tmp_path):
    from emoverify.plain_arrays import UnsafeArrayFileError
    from emoverify.report.build import load_embeddings

    path = object_npz(tmp_path / "embeddings.npz")
    with pytest.raises(UnsafeArrayFileError, match=f"{path} was not loaded: it holds object arrays"):
        load_embeddings(path)


def test_a_crafted_descriptor_file_with_object_arrays_is_refused_by_name(tmp_path):
    from emoverify.features.store import load_features
    from emoverify.plain_arrays import UnsafeArrayFileError

    path = object_npz(tmp_path / "dlib.npz")
    with pytest.raises(UnsafeArrayFileError, match=f"{path} was not loaded: it holds object arrays"):
        load_features(path)


def test_a_crafted_pixel_cache_with_object_arrays_is_a_named_pixel_cache_error(tmp_path):
    import pandas as pd

    from emoverify.faces.pixels import FORMAT, PixelCache, PixelCacheError, manifest_digest

    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"image_id": ["a"], "status": ["ok"], "aligned_path": ["a.png"]}).to_csv(manifest, index=False)
    array = tmp_path / "pixels_8.npy"
    np.save(array, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    record = {"format": FORMAT, "manifest_sha1": manifest_digest(manifest), "rows": 1, "size": 8, "image_ids": ["a"]}
    (tmp_path / "pixels_8.json").write_text(json.dumps(record))
    with pytest.raises(PixelCacheError, match=f"{array} was not loaded: it holds object arrays"):
        PixelCache(array, tmp_path / "pixels_8.json", manifest, 8)


def test_a_lock_record_without_a_start_time_is_stale(tmp_path):
    """Its pid may be any live process (here this test's parent, or init): it holds nothing."""
    for pid in (os.getppid(), 1):
        record = {"pid": pid, "host": os.uname().nodename}
        (tmp_path / "running.json").write_text(json.dumps(record))
        assert runlock.holder(tmp_path / "running.json") is None
        runlock.check_free(tmp_path / "running.json", "jaffe")


def test_measurement_records_name_commands_relative_to_the_repository():
    commands = {
        path.name: json.loads(path.read_text()).get("command", "")
        for path in (ROOT / "docs" / "measurements").glob("*.json")
    }
    absolute = {name: command for name, command in commands.items() if any(w.startswith("/") for w in command.split())}
    assert commands and absolute == {}


def test_the_recorder_writes_paths_relative_to_the_repository():
    from benchmarks import record

    argv = ["--experiment", "/elsewhere/clone/results/lfw", f"--data={ROOT}/docs/x.csv", "--json", "/tmp/x.json"]
    assert record.command("benchmarks.micro.head_runs", argv) == (
        "python -m benchmarks.micro.head_runs --experiment results/lfw --data=docs/x.csv"
    )
