"""Progress lines of long stages: start, at most one per interval, always the end, to every stream."""

import io

from emoverify.progress import Progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_lines_at_start_every_interval_and_end_with_a_rate():
    clock, console, log = Clock(), io.StringIO(), io.StringIO()
    progress = Progress("faces", (console, log), every_seconds=10, clock=clock)
    progress(0, 50)
    for done in range(1, 51):
        clock.now += 0.5  # 2 images per second
        progress(done, 50)
    # at 0 s, then every 10 s (20 images), then the last image
    assert progress.lines == [
        "faces: 0/50 images (0 %), - images/s, 0.0 s elapsed",
        "faces: 20/50 images (40 %), 2.0 images/s, 10.0 s elapsed, about 15 s left",
        "faces: 40/50 images (80 %), 2.0 images/s, 20.0 s elapsed, about 5 s left",
        "faces: 50/50 images (100 %), 2.0 images/s, 25.0 s elapsed",
    ]
    assert console.getvalue() == log.getvalue() == "\n".join(progress.lines) + "\n"


def test_one_stream_given_twice_gets_each_line_once():
    stream = io.StringIO()
    Progress("labels", (stream, stream), clock=Clock())(3, 3)
    assert stream.getvalue() == "labels: 3/3 images (100 %), - images/s, 0.0 s elapsed\n"
