"""Progress of long work, as lines a log can hold: "faces: 120/981 images (12 %), 8.3 images/s, 14.5 s elapsed".

A ``Progress`` is called with (done, total) as work goes; it writes a line to each of its streams (the console
and the rule's log) at the start, then at most once every ``every_seconds``, and always at the end, so a
stage of thousands of images shows where it is without flooding its log.

An ``EpochProgress`` shows a training's epochs on the console: a live bar when the console is a terminal, and
otherwise (a log file, a pipe, the console of ``make demo > log``) plain lines, one per epoch at most every
``every_seconds`` and always the last, so concurrent trainings neither interleave bar redraws nor fill a log
with carriage-return frames.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

ProgressCallback = Callable[[int, int], None]
EPOCH_LINE_SECONDS = 10.0  # off a terminal: at most one line per training per interval, and always the last


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    def __init__(
        self,
        stage: str,
        streams: Sequence | None = None,
        *,
        unit: str = "images",
        every_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stage, self.unit, self.every_seconds, self.clock = stage, unit, every_seconds, clock
        self.streams = list(streams) if streams is not None else [sys.stderr]
        self.started = clock()
        self.last_line: float | None = None
        self.lines: list[str] = []

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        due = self.last_line is None or now - self.last_line >= self.every_seconds
        if not (due or done >= total):
            return
        self.last_line = now
        self.write(self.line(done, total, now - self.started))

    def line(self, done: int, total: int, elapsed: float) -> str:
        share = f" ({100 * done / total:.0f} %)" if total else ""
        rate = f"{done / elapsed:.1f} {self.unit}/s" if elapsed > 0 and done else f"- {self.unit}/s"
        left = ""
        if 0 < done < total and elapsed > 0:
            left = f", about {(total - done) * elapsed / done:.0f} s left"
        return f"{self.stage}: {done}/{total} {self.unit}{share}, {rate}, {elapsed:.1f} s elapsed{left}"

    def counting(self, total: int) -> Callable[[int], None]:
        """A callback for work reported in steps (``step(n)``, as tqdm's ``update``) that reports their sum."""
        done = 0

        def step(count: int = 1) -> None:
            nonlocal done
            done += count
            self(done, total)

        self(0, total)
        return step

    def write(self, line: str) -> None:
        self.lines.append(line)
        written = set()
        for stream in self.streams:
            if id(stream) in written:  # the console and the log may be one stream outside Snakemake
                continue
            written.add(id(stream))
            print(line, file=stream, flush=True)


class EpochProgress:
    """A training's epochs on ``stream``: a tqdm bar on a terminal, lines elsewhere (module docstring).

    ``update(epoch, loss=..., val_auc=...)`` after each epoch; ``close()`` at the end, early stop or not.
    """

    def __init__(
        self,
        name: str,
        epochs: int,
        stream=None,
        *,
        every_seconds: float = EPOCH_LINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name, self.epochs, self.every_seconds, self.clock = name, epochs, every_seconds, clock
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None
        if is_terminal(self.stream):
            from tqdm import tqdm  # here: the labels stage's environment (envs/fer.yaml) has no tqdm

            self.bar = tqdm(total=epochs, desc=name, unit="epoch", file=self.stream)
        self.started = clock()
        self.last_line: float | None = None
        self.pending: str | None = None  # the latest epoch's line, when the interval held it back
        self.lines: list[str] = []

    def update(self, epoch: int, **figures: float) -> None:
        shown = {name: f"{value:.4f}" if name == "loss" else f"{value:.3f}" for name, value in figures.items()}
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(**shown)
            return
        now = self.clock()
        text = "".join(f", {name} {value}" for name, value in shown.items())
        self.pending = f"{self.name}: epoch {epoch}/{self.epochs}{text}, {now - self.started:.1f} s elapsed"
        if self.last_line is None or now - self.last_line >= self.every_seconds:
            self.last_line = now
            self.flush()

    def flush(self) -> None:
        if self.pending is not None:
            self.lines.append(self.pending)
            print(self.pending, file=self.stream, flush=True)
            self.pending = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.flush()
