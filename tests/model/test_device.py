"""Device choice per job: concurrent jobs spread over the visible GPUs (faked here: no GPU needed)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emoverify.model import device


@pytest.fixture
def four_cards(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv(device.SLOTS_DIR_ENV, str(tmp_path / "slots"))
    monkeypatch.setattr(device, "_held_slots", [])
    return tmp_path / "slots"


def test_concurrent_jobs_spread_over_the_cards(four_cards):
    chosen = [device.job_device("auto") for _ in range(10)]
    assert [d.index for d in chosen] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert all(d.type == "cuda" for d in chosen)


def test_a_finished_job_frees_its_slot(four_cards):
    handles = [device.acquire_gpu_slot(4, four_cards) for _ in range(6)]  # cards 0 1 2 3 0 1
    assert [card for card, _ in handles] == [0, 1, 2, 3, 0, 1]
    handles[2][1].close()  # the job on card 2 ends
    handles[3][1].close()  # and one on card 3
    again = device.acquire_gpu_slot(4, four_cards)  # kept open: the new job runs
    assert again[0] == 2
    assert device.acquire_gpu_slot(4, four_cards)[0] == 3


def test_slots_are_shared_between_processes(four_cards):
    """Another process's slot counts; when that process exits its slot is free again (flock)."""
    workflow = Path(device.__file__).resolve().parents[2]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from emoverify.model.device import acquire_gpu_slot;"
            f"card, handle = acquire_gpu_slot(4, {str(four_cards)!r}); print(card, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(workflow), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert holder.stdout.readline().strip() == "0"
        mine = device.acquire_gpu_slot(4, four_cards)
        assert mine[0] == 1  # card 0 is held by the other process
    finally:
        holder.kill()
        holder.wait()
    assert device.acquire_gpu_slot(4, four_cards)[0] == 0  # freed with the process; card 1 still held here


def test_an_explicit_card_one_card_or_the_cpu_are_left_alone(four_cards, monkeypatch):
    assert device.job_device("cuda:2") == torch.device("cuda:2")
    assert device.job_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert device.job_device("cuda") == torch.device("cuda")
    assert not four_cards.exists()  # no slot files without a choice to make


@pytest.fixture
def restored_threads():
    from threadpoolctl import threadpool_limits

    torch_threads = torch.get_num_threads()
    with threadpool_limits(limits=None, user_api="blas"):  # restores the BLAS pools' threads on the way out
        yield
    torch.set_num_threads(torch_threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_job_s_threads_bound_torch_and_numpy_s_blas(restored_threads, threads):
    """Outside Snakemake (which sets the BLAS thread variables of a rule's job), use_threads bounds numpy's BLAS
    too, so a library call's products split as the rule's do."""
    from threadpoolctl import threadpool_info

    device.use_threads(threads)
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy's BLAS is not visible to threadpoolctl"
    assert torch.get_num_threads() == threads
    assert {pool["num_threads"] for pool in blas} == {threads}


FAULTS_PER_CYCLE = """
import resource, sys
import numpy as np
from emoverify.model import device
if sys.argv[1] == "keep" and not device.keep_freed_memory():
    print("not glibc")
    sys.exit(0)
def cycle():  # a step's temporaries: several megabytes alive at once, every page written, then freed
    arrays = [np.ones(1 << 19) for _ in range(4)]
    del arrays
for _ in range(3):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def test_a_job_keeps_the_memory_it_frees_instead_of_faulting_it_in_again():
    """Each cycle frees 16 MB: by default glibc hands it back and the next cycle faults its ~4,000 pages in;
    after keep_freed_memory the next cycle reuses them."""
    env = {**os.environ, "PYTHONPATH": str(Path(device.__file__).parents[2])}
    faults = {}
    for mode in ("default", "keep"):
        done = subprocess.run(
            [sys.executable, "-c", FAULTS_PER_CYCLE, mode], capture_output=True, text=True, env=env, check=True
        )
        faults[mode] = done.stdout.strip()
    if faults["keep"] == "not glibc":
        pytest.skip("the C library is not glibc: keep_freed_memory does nothing there")
    assert float(faults["default"]) > 1000
    assert float(faults["keep"]) < 50
