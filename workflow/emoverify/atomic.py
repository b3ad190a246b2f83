"""Files that are either complete or absent: written under a temporary name in the same folder and renamed
(``os.replace``, atomic on one file system) once complete. A job killed mid-write, or a second writer on the
same run, never leaves a half-written file under the name Snakemake and the report take as finished.
"""

from __future__ import annotations

import contextlib
import os
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
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path, text: str) -> None:
    with replaced_when_complete(path) as temporary:
        temporary.write_text(text)
