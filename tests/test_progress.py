"""Progress lines of long stages: start, at most one per interval, always the end, to every stream."""

import io

from emoverify.progress import EpochProgress, Progress


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


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_counting_adds_up_steps_reported_as_they_go():
    clock, stream = Clock(), io.StringIO()
    step = Progress("dlib descriptors", (stream,), unit="faces", every_seconds=10, clock=clock).counting(5)
    step(2)
    clock.now += 10
    step(2)
    step()
    assert stream.getvalue().splitlines() == [
        "dlib descriptors: 0/5 faces (0 %), - faces/s, 0.0 s elapsed",
        "dlib descriptors: 4/5 faces (80 %), 0.4 faces/s, 10.0 s elapsed, about 2 s left",
        "dlib descriptors: 5/5 faces (100 %), 0.5 faces/s, 10.0 s elapsed",
    ]


def test_epochs_off_a_terminal_are_plain_lines_at_most_one_per_interval_and_always_the_last():
    clock, stream = Clock(), io.StringIO()
    epochs = EpochProgress("tl/manual/fold0", 5, stream, every_seconds=10, clock=clock)
    for epoch in range(1, 6):  # 4 s an epoch
        clock.now += 4
        epochs.update(epoch, loss=0.123456, val_auc=0.8)
    epochs.close()
    # the 1st at once; the 2nd and 3rd within 10 s of it held back; the 4th 12 s after it; the 5th, held back
    # (4 s after the 4th), written at close as the last
    assert (
        stream.getvalue().splitlines()
        == epochs.lines
        == [
            "tl/manual/fold0: epoch 1/5, loss 0.1235, val_auc 0.800, 4.0 s elapsed",
            "tl/manual/fold0: epoch 4/5, loss 0.1235, val_auc 0.800, 16.0 s elapsed",
            "tl/manual/fold0: epoch 5/5, loss 0.1235, val_auc 0.800, 20.0 s elapsed",
        ]
    )
    assert "\r" not in stream.getvalue()


def test_epochs_on_a_terminal_are_one_live_bar():
    stream = Terminal()
    epochs = EpochProgress("tl", 3, stream)
    for epoch in range(1, 4):
        epochs.update(epoch, loss=0.5)
    epochs.close()
    assert "\r" in stream.getvalue() and "3/3" in stream.getvalue() and epochs.lines == []


def test_training_off_a_terminal_writes_one_line_per_epoch_and_no_bar_frames(tmp_path_factory, capsys):
    import torch
    from demo_runs import TRAINING, TRIPLET, make_demo_sets

    from emoverify.training import loop
    from emoverify.training.fold import prepare_fold
    from emoverify.training.settings import Progress, TrainingSettings

    sets = make_demo_sets(tmp_path_factory)
    console = io.StringIO()
    result = loop.train_model(
        prepare_fold(sets["train"], sets["val"]),
        method=TRIPLET,
        settings=TrainingSettings.from_recipe({**TRAINING, "patience": 10}),
        epochs=3,
        seed=0,
        device=torch.device("cpu"),
        progress=Progress(stream=console, every_seconds=0, run_name="tl/none/fold0"),
    )
    lines = console.getvalue().splitlines()
    assert "\r" not in console.getvalue() and result.epochs_run == 3
    assert [line.split(",")[0] for line in lines] == [f"tl/none/fold0: epoch {e}/3" for e in (1, 2, 3)]
    losses = result.history["total"].tolist()
    assert all(f"loss {loss:.4f}" in line for loss, line in zip(losses, lines))
    log = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(log) == 3  # the rule's log (stdout) keeps its line per epoch
