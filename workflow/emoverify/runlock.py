"""Which Snakemake run holds an experiment, so a second run says so instead of giving recovery advice.

Snakemake's own lock (``.snakemake/locks``) does not say who holds it, and a second run on a live experiment first
sees the live run's jobs as incomplete and advises ``--rerun-incomplete``: wrong while the other run writes those
files. The running Snakemake therefore leaves its pid in ``results/<experiment>/running.json`` (from its
``onstart`` hook, removed by ``onsuccess``/``onerror``), and every later Snakemake on the experiment stops at parse
time while that process lives. A file left by a killed run names a dead pid (or one reused by another program,
told apart by its start time) and is ignored; so is a record without a start time or with no usable pid.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from emoverify import atomic
from emoverify.lifeline import alive, start_time


class ExperimentBusyError(RuntimeError):
    """Another live Snakemake run holds the experiment."""


def claim(path) -> None:
    """Record this process (the running Snakemake) as the experiment's holder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "started": start_time(os.getpid()), "host": socket.gethostname()}
    atomic.write_text(path, json.dumps(record))


def release(path) -> None:
    """Forget the holder when it is this process (a later run's record stays)."""
    path = Path(path)
    record = _read(path)
    if record is not None and record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def holder(path) -> int | None:
    """The pid of another live run on this machine that holds the experiment, or None."""
    record = _read(Path(path))
    if record is None or record.get("host") != socket.gethostname():
        return None
    pid, started = record.get("pid"), record.get("started")
    if type(pid) is not int or pid <= 1 or pid == os.getpid():
        return None
    if not started:  # every run records its start time: without one the pid cannot be told from a reused one
        return None
    return pid if alive(pid, started) else None


def check_free(path, experiment: str) -> None:
    """Stop (ExperimentBusyError) when another live run holds ``experiment``."""
    pid = holder(path)
    if pid is not None:
        raise ExperimentBusyError(
            f"another run (pid {pid}) holds experiment {experiment}; wait for it or stop it (kill {pid}); "
            "--unlock only after it ended, then --rerun-incomplete redoes what it left unfinished"
        )


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
