"""A job dies with the Snakemake process that started it.

Snakemake runs a script job through a shell (``bash -c "... python script.py"``), so when Snakemake itself is
killed (``kill -9``, a closed terminal, an out-of-memory kill) nothing stops the job: it lives on under init and
keeps writing its outputs, and a second run started after ``--unlock`` puts another writer on the same files.
``die_with_snakemake`` ties the job to its Snakemake: on Linux the kernel sends the job SIGKILL when its parent
dies (``PR_SET_PDEATHSIG``), and a watchdog thread checks about once a second that the nearest Snakemake
ancestor (or, when none is found, the parent) still runs and kills the job when it does not.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_SECONDS = 1.0
OWNER_NAME = "snakemake"  # the program (or `python -m` module) of the job's owner


def die_with_snakemake(poll_seconds: float = POLL_SECONDS) -> int:
    """Tie this process's life to its Snakemake ancestor (else its parent); returns the pid watched."""
    parent = os.getppid()
    set_parent_death_signal()
    owner = owner_pid()
    identity = start_time(owner)
    if not alive(owner, identity) or os.getppid() != parent:  # the owner died before the ties were made
        os.kill(os.getpid(), signal.SIGKILL)
    watchdog = threading.Thread(
        target=_watch, args=(owner, identity, poll_seconds), name="emoverify-lifeline", daemon=True
    )
    watchdog.start()
    return owner


def die_with_parent(parent: int) -> None:
    """For a forked worker (a process pool's initializer, with the pool owner's pid): SIGKILL when its parent
    dies, and exit at once when it already has. A forked child does not inherit its parent's parent-death
    signal, so a job's workers would otherwise outlive the job killed under them."""
    set_parent_death_signal()
    if os.getppid() != parent:
        os._exit(1)


def set_parent_death_signal() -> bool:
    """Ask the Linux kernel for SIGKILL when the parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def owner_pid(pid: int | None = None) -> int:
    """The nearest ancestor of ``pid`` (this process by default) whose command line names Snakemake; the
    parent when none does or /proc cannot tell."""
    pid = os.getpid() if pid is None else pid
    parent = _parent_of(pid)
    ancestor = parent
    while ancestor and ancestor > 1:
        if runs_snakemake(_arguments(ancestor)):
            return ancestor
        ancestor = _parent_of(ancestor)
    return parent if parent is not None else os.getppid()


def start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc): a pid reused by a later process differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs (and, given its start time, is still the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is not None and start_time(pid) != started:
        return False
    return not _is_zombie(pid)


def _watch(owner: int, identity: str | None, poll_seconds: float) -> None:
    while alive(owner, identity):
        time.sleep(poll_seconds)
    os.kill(os.getpid(), signal.SIGKILL)


def _parent_of(pid: int) -> int | None:
    if pid == os.getpid():
        return os.getppid()
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def runs_snakemake(arguments: list[str]) -> bool:
    """``snakemake ...``, ``python .../bin/snakemake ...`` or ``python -m snakemake ...``; not the shell that runs
    a job script, although the script's path (``.snakemake/scripts/...``) names it."""
    if any(Path(argument).name == OWNER_NAME for argument in arguments[:2]):
        return True
    return "-m" in arguments[:-1] and arguments[arguments.index("-m") + 1] == OWNER_NAME


def _arguments(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
