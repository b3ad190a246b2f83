"""Logging for the Snakemake script entry points: everything goes to the rule's log file,
and an error's one-line message is also shown on the console, so nobody has to dig for it.
The context manager yields the console stream for progress bars."""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path


@contextlib.contextmanager
def logged(log_path):
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    console = sys.__stderr__
    with open(log_path, "w", buffering=1) as log:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log
        try:
            yield console
        except Exception as error:
            traceback.print_exc(file=log)
            print(
                f"\nemoverify error: {type(error).__name__}: {error}\n(full trace in {log_path})",
                file=console,
                flush=True,
            )
            raise
        finally:
            sys.stdout, sys.stderr = old_out, old_err


def announce(console, text: str) -> None:
    """A stage's closing line (counts, where to look): into the log and onto the console."""
    print(text, flush=True)
    print(text, file=console, flush=True)
