"""benchmarks.tools.time_model on a made-up study: its Snakemake records and benchmark files, the costs it derives
and the wall times it predicts."""

import base64
import json
from pathlib import Path

import pytest

from benchmarks.tools import time_model

BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def record(study: Path, output: str, rule: str, start: float, end: float, incomplete=False):
    name = base64.urlsafe_b64encode(output.encode()).decode()
    folder = study / ".snakemake" / "metadata"
    folder.mkdir(parents=True, exist_ok=True)
    fields = {"rule": rule, "starttime": start, "endtime": end, "incomplete": incomplete}
    (folder / name).write_text(json.dumps(fields))


def benchmark(study: Path, relative: str, wall: float, cpu: float):
    path = study / "results" / "exp" / "benchmarks" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + f"{wall}\t0:00:{int(wall):02d}\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")


@pytest.fixture
def study(tmp_path):
    """Two trainings (20 s wall, 10 CPU-s, 5 s of epochs each), an evaluation with two outputs, and records of
    another experiment and of an unfinished job that must be ignored."""
    for fold in (0, 1):
        benchmark(tmp_path, f"train/tl_pdp_manual_repeat0_fold{fold}_seed0.tsv", 20.0, 10.0)
        run = tmp_path / f"results/exp/runs/tl_pdp/manual/repeat0/fold{fold}/seed0"
        run.mkdir(parents=True)
        (run / "history.csv").write_text("epoch,total,seconds\n1,0.5,2.0\n2,0.4,3.0\n")
        record(tmp_path, f"results/exp/runs/tl_pdp/manual/repeat0/fold{fold}/seed0/model.pt", "train_run", 0, 20)
    benchmark(tmp_path, "faces.tsv", 30.0, 24.0)
    record(tmp_path, "results/exp/faces/manifest.csv", "detect_align", 100.0, 130.0)
    record(tmp_path, "results/exp/runs/tl/none/repeat0/fold0/seed0/metrics.json", "evaluate_run", 200.0, 208.0)
    record(tmp_path, "results/exp/runs/tl/none/repeat0/fold0/seed0/embeddings.npz", "evaluate_run", 200.0001, 208.0)
    record(tmp_path, "results/other/faces/manifest.csv", "detect_align", 0.0, 999.0)
    record(tmp_path, "results/exp/splits/folds.csv", "make_splits", 300.0, 301.0, incomplete=True)
    return tmp_path


def test_jobs_are_read_from_the_records_of_the_experiment_one_per_job(study):
    jobs = time_model.metadata_jobs(study, "exp")
    assert sorted(job.rule for job in jobs) == ["detect_align", "evaluate_run", "train_run"]  # one job, two outputs
    evaluation = next(job for job in jobs if job.rule == "evaluate_run")
    assert evaluation.seconds == pytest.approx(8.0)


def test_costs_take_cpu_seconds_where_measured_and_scale_wall_times_by_the_trainings_cpu_share(study):
    table = time_model.benchmark_table(study, "exp")
    assert sorted(table["rule"]) == ["detect_align", "train_run", "train_run"]
    assert table.loc[table["rule"] == "train_run", "epochs"].tolist() == [5.0, 5.0]
    costs = time_model.job_costs(table, time_model.metadata_jobs(study, "exp"))
    assert costs.cpu_share == pytest.approx(0.5) and costs.epoch_share == pytest.approx(0.25)
    assert costs.cpu["train_run"] == 10.0 and costs.cpu["detect_align"] == 24.0
    assert costs.cpu["evaluate_run"] == pytest.approx(8.0 * 0.5)  # wall only: scaled by the CPU share
    on_gpu, on_card = time_model.gpu_costs(costs, speedup=10)
    assert on_card == pytest.approx(10 * 0.25 / 10) and on_gpu["train_run"] == pytest.approx(7.5 + 0.25)


def test_a_study_on_idle_cores_is_costed_by_its_jobs_wall_times(study):
    costs = time_model.job_costs(time_model.benchmark_table(study, "exp"), time_model.metadata_jobs(study, "exp"))
    idle = time_model.idle_wall_costs(costs)
    # the trainings' records span 20 s against 10 CPU-s; the evaluation's 8 s is taken as it is, not scaled
    assert idle.cpu["train_run"] == pytest.approx(20.0) and idle.cpu["evaluate_run"] == pytest.approx(8.0)
    assert idle.cpu["detect_align"] == pytest.approx(30.0)
    assert costs.cpu["train_run"] == 10.0  # the measured costs are left as they were


def test_prediction_adds_the_chain_and_shares_the_rest_over_the_cores():
    counts = {"dataset": 1, "detect_align": 1, "train_run": 8, "evaluate_run": 8, "new_rule": 1}
    cost = {"dataset": 2.0, "detect_align": 20.0, "train_run": 10.0, "evaluate_run": 5.0}
    # chain: 2 + 20 / 2 threads; the rest (80 + 40 + 3 for the unknown rule) over 4 cores
    assert time_model.predict(counts, cost, 4, default=3.0) == pytest.approx(2 + 10 + 123 / 4)
    # on one core the faces job has one thread: 2 + 20 + 123
    assert time_model.predict(counts, cost, 1, default=3.0) == pytest.approx(145)
    # with many cores the longest single job bounds the parallel part
    assert time_model.predict(counts, cost, 1000, default=3.0) == pytest.approx(2 + 10 + 10)


def test_job_stats_of_a_dry_run_are_parsed_without_the_target_and_total():
    text = (
        "Job stats:\njob                    count\n-------------------  -------\ndataset                    1\n"
        "train_run                 80\nall                        1\ntotal                     82\n\nReasons:"
    )
    assert time_model.parse_job_stats(text) == {"dataset": 1, "train_run": 80}


def test_a_study_without_training_benchmarks_is_refused(study):
    table = time_model.benchmark_table(study, "exp")
    with pytest.raises(ValueError, match="no training benchmark files"):
        time_model.job_costs(table[table["rule"] != "train_run"], [])
