"""Progress of a long stage over images: "faces: 120/981 images (12 %), 8.3 images/s, 14.5 s elapsed".

A ``Progress`` is called with (done, total) as work goes; it writes a line to each of its streams (the console
and the rule's log) at the start, then at most once every ``every_seconds``, and always at the end, so a
stage of thousands of images shows where it is without flooding its log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

ProgressCallback = Callable[[int, int], None]


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

    def write(self, line: str) -> None:
        self.lines.append(line)
        written = set()
        for stream in self.streams:
            if id(stream) in written:  # the console and the log may be one stream outside Snakemake
                continue
            written.add(id(stream))
            print(line, file=stream, flush=True)
