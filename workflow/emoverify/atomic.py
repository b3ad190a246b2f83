"""Files that are either complete or absent: written under a temporary name in the same folder and renamed
(``os.replace``, atomic on one file system) once complete. A job killed mid-write, or a second writer on the
same run, never leaves a half-written file under the name Snakemake and the report take as finished. A write
that fails because the disk is full says so (``DiskFullError``), also where torch's writer hides the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

PARTIAL = ".partial-"  # in the temporary names: ".model.partial-<pid>.pt"


@contextlib.contextmanager
def replaced_when_complete(path):
    """Yield a temporary path beside ``path`` (same suffix, so writers that add one add none); rename it to
    ``path`` when the block ends without error, delete it when the block fails."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}{PARTIAL}{os.getpid()}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:  # torch.save reports a full disk as a RuntimeError of its writer
        if _disk_full(error, path.parent, temporary):
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on device while writing {path} ({_free(path.parent)} free on its file system): "
                "free some space (or move results/ to a larger disk) and run again",
            ) from error
        raise
    finally:
        temporary.unlink(missing_ok=True)


class DiskFullError(OSError):
    """A file could not be written because its file system is full."""


# what is left on a file system when a write there failed for want of space
_NEARLY_FULL_BYTES = 1 << 20


def _disk_full(error: Exception, folder: Path, temporary: Path) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    if not isinstance(error, RuntimeError) or not temporary.exists():
        return False
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _free(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free:,} bytes"
    except OSError:
        return "nothing"


def write_text(path, text: str) -> None:
    with replaced_when_complete(path) as temporary:
        temporary.write_text(text)
