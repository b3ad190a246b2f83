"""Time model: measured per-job costs x planned job counts -> predicted wall time of each preset on N cores and
on one GPU, checked against a measured study.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.tools.time_model [--cores 2 4 8 16] [--gpu-speedup 10]
        [--measured jaffe=/work/study ...] [--check ckplus48_pretrained=/work/study2:2026-11-28T080742]
        [--json PATH | --record]

What it reads, all read-only:

- **Per-job costs** of a finished (or running) study: ``<study>/results/<experiment>/benchmarks/`` (Snakemake's
  benchmark files: CPU seconds and wall seconds of the training, faces, labels and descriptor jobs) and
  ``<study>/.snakemake/metadata`` (start and end of every job, for the rules without benchmark files:
  evaluations, references, splits, tables). A rule's cost is the median over its jobs. The CPU seconds are the
  cost on an idle core; a rule measured only by wall time is scaled by the CPU share the study's trainings got
  (their CPU seconds over their wall seconds), since those studies ran under contention. A study that ran
  alone on idle cores, one job per core (``--idle``, by default the tuned CK+48 one), is costed by its jobs'
  median wall times instead: CPU seconds miss each job's start-up, data loading and saving waits.
- **Job counts** of each preset: ``snakemake --dry-run`` in a scratch folder (its Job stats).
- **Work inside a training job**: the epochs' seconds in the runs' ``history.csv`` against the job's wall time:
  the share of a training job that is epochs (the rest, start-up, data and saving, is fixed cost).

The model, per rule r with n_r jobs of c_r CPU-seconds: the chain that runs alone (dataset, faces, splits,
tables) adds up, and every other job shares the cores:
    T(N) = sum over chain rules of n_r c_r / min(threads_r, N) + max(sum over the rest of n_r c_r / N,
           longest single job)
On one GPU (an estimate: no GPU was measured): each training job keeps its fixed cost on the CPU and its
epochs run ``--gpu-speedup`` times faster (an assumption until ``benchmarks.tools.cuda_check --concurrent``
measures it on the card); jobs share the card (``--resources gpu_slots=N``), so the CPU cores still bound the
fixed costs, and the card's own busy time (every training's epochs one after another) bounds from below.

``--check EXPERIMENT=STUDY:LOGSTAMP`` predicts one measured run of a study (the Snakemake invocation whose log
is ``STUDY/.snakemake/log/LOGSTAMP*.snakemake.log``) from that run's own jobs: their counts and median wall
times (so the same load) on its 2 cores, against its measured wall time (first job start to last job end).

Figures (``_s``: seconds): per preset ``<preset>/jobs``, ``/trainings``, ``/training_s``, ``/on_<N>_cores_s`` and
``/on_gpu_s``; per check ``check/<experiment>/predicted_s`` and ``/measured_s``.
"""

from __future__ import annotations

import base64
import json
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from benchmarks import record
from benchmarks.record import DATASETS

ROOT = record.REPO_ROOT
# preset -> its config files over config.yaml and its data_root ("" for the demo)
PRESETS = {
    "demo": ([], ""),
    "jaffe": (["workflow/presets/jaffe.yaml"], DATASETS / "jaffe"),
    "ckplus48": (["workflow/presets/ckplus48.yaml"], DATASETS / "ck_plus48" / "CK+48"),
    "jaffe_pretrained": (["workflow/presets/jaffe_pretrained.yaml"], DATASETS / "jaffe"),
    "ckplus48_pretrained": (["workflow/presets/ckplus48_pretrained.yaml"], DATASETS / "ck_plus48" / "CK+48"),
    "ckplus48_tuned": (
        ["workflow/presets/ckplus48.yaml", "workflow/presets/overlays/tuned.yaml"],
        DATASETS / "ck_plus48" / "CK+48",
    ),
}
# where each preset's costs come from by default (the studies of this machine's session, see README)
MEASURED = {
    "jaffe": "/work/study",
    "ckplus48": "/work/study2",
    "jaffe_pretrained": "/work/study3",
    "ckplus48_pretrained": "/work/study2",
    "ckplus48_tuned": "/work/fresh3",
}
# studies that ran alone on idle cores, one job per core: a job's recorded wall time is its idle cost, start-up
# and I/O waits included, so they are costed by wall time rather than CPU time
IDLE_STUDIES = {"ckplus48_tuned"}
# the demo's drawings (224 faces) are costed as JAFFE's study (213 faces)
COSTS_OF = {"demo": "jaffe"}
# a rule a study has not run yet (e.g. dlib's descriptors in a running study) is costed from the study of the
# same faces in the other regime
SAME_FACES = {
    "jaffe": "jaffe_pretrained",
    "jaffe_pretrained": "jaffe",
    "ckplus48": "ckplus48_pretrained",
    "ckplus48_pretrained": "ckplus48",
    "ckplus48_tuned": "ckplus48",
}
# jobs that run one after another before and after the parallel part, with their threads
CHAIN = {"generate_demo": 1, "dataset": 1, "detect_align": 2, "make_splits": 1, "aggregate": 1, "compare_regimes": 1}
BENCHMARK_RULES = {"faces": "detect_align", "labels": "detect_expressions"}
RUN_FILE = re.compile(
    r"^(?P<method>.+?)_(?P<labels>shuffled_across|[a-z]+)_repeat(?P<repeat>\d+)_fold(?P<fold>\d+)_seed(?P<seed>-?\d+)$"
)


@dataclass
class Job:
    rule: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def metadata_jobs(study: Path, experiment: str) -> list[Job]:
    """Every job Snakemake recorded for the experiment's outputs (the latest record of each output)."""
    root = study / ".snakemake" / "metadata"
    jobs: dict[tuple[str, float], Job] = {}
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        name = "".join(part.lstrip("@") for part in path.relative_to(root).parts)
        try:
            output = base64.urlsafe_b64decode(name).decode()
        except ValueError:
            continue
        if not output.startswith(f"results/{experiment}/"):
            continue
        record = json.loads(path.read_text())
        if record.get("incomplete") or record.get("starttime") is None or record.get("endtime") is None:
            continue
        # a job's outputs share its end time; their start times differ by the microseconds between records
        key = (record["rule"], record["endtime"])
        start = min(record["starttime"], jobs[key].start) if key in jobs else record["starttime"]
        jobs[key] = Job(record["rule"], start, record["endtime"])
    return list(jobs.values())


def benchmark_rule(path: Path, folder: Path) -> str | None:
    """The rule a benchmark file belongs to (train/<run>.tsv, faces.tsv, labels.tsv, features_<x>.tsv)."""
    relative = path.relative_to(folder)
    if relative.parts[0] == "train":
        return "train_run"
    if path.stem.startswith("features_"):
        return "extract_features"
    if path.stem.startswith("face_pixels_"):
        return "face_pixels"
    return BENCHMARK_RULES.get(path.stem)


def benchmark_table(study: Path, experiment: str) -> pd.DataFrame:
    """One row per benchmark file: rule, wall seconds (s), CPU seconds (cpu_time) and, for a training run, its
    epochs' seconds from history.csv."""
    folder = study / "results" / experiment / "benchmarks"
    rows = []
    for path in sorted(folder.rglob("*.tsv")):
        rule = benchmark_rule(path, folder)
        if rule is None:
            continue
        measured = pd.read_csv(path, sep="\t").iloc[-1]
        row = {"rule": rule, "s": float(measured["s"]), "cpu": float(measured["cpu_time"]), "epochs": float("nan")}
        run = RUN_FILE.match(path.stem) if rule == "train_run" else None
        if run:
            history = (
                study
                / "results"
                / experiment
                / f"runs/{run['method']}/{run['labels']}/repeat{run['repeat']}/fold{run['fold']}/seed{run['seed']}"
                / "history.csv"
            )
            if history.is_file():
                row["epochs"] = float(pd.read_csv(history)["seconds"].sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["rule", "s", "cpu", "epochs"])


@dataclass
class Costs:
    cpu: dict[str, float]  # idle-core cost of one job, by rule: median CPU-seconds (wall seconds: --idle)
    wall: dict[str, float]  # median wall seconds of one job as measured (the study's load)
    cpu_share: float  # CPU seconds over wall seconds of the trainings: how contended the study was
    epoch_share: float  # share of a training job's time spent in epochs
    trainings: int  # training jobs measured


def job_costs(benchmarks: pd.DataFrame, jobs: list[Job]) -> Costs:
    walls: dict[str, list[float]] = {}
    for job in jobs:
        walls.setdefault(job.rule, []).append(job.seconds)
    wall = {rule: statistics.median(seconds) for rule, seconds in walls.items()}
    cpu = {rule: float(group["cpu"].median()) for rule, group in benchmarks.groupby("rule")}
    training = benchmarks[benchmarks["rule"] == "train_run"]
    if training.empty:
        raise ValueError("the study has no training benchmark files: no CPU share to scale its wall times by")
    share = float((training["cpu"] / training["s"]).median())
    timed = training.dropna(subset=["epochs"])
    epoch_share = float((timed["epochs"] / timed["s"]).clip(upper=1).median()) if len(timed) else float("nan")
    for rule, seconds in wall.items():
        cpu.setdefault(rule, seconds * share)
    for rule, seconds in cpu.items():
        wall.setdefault(rule, seconds / share)
    return Costs(cpu, wall, share, epoch_share, len(training))


def planned_jobs(configfiles: list[str], data_root, extra: list[str] = ()) -> dict[str, int]:
    """Job counts by rule of a dry run of the whole study in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="time_model_") as scratch:
        command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", scratch, "--dry-run"]
        command += ["--configfile", str(ROOT / "config.yaml"), *[str(ROOT / f) for f in configfiles], *extra]
        if data_root:
            command += ["--config", f"data_root={data_root}"]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"dry run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return parse_job_stats(done.stdout + done.stderr)


def parse_job_stats(text: str) -> dict[str, int]:
    """The Job stats table of a dry run, without its total and the ``all`` target."""
    table = text.split("Job stats:")[1].split("total")[0]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
    return {rule: count for rule, count in counts.items() if rule not in ("all", "job")}


def predict(counts: dict[str, int], cost: dict[str, float], cores: int, default: float) -> float:
    """T(N): the chain's jobs one after another, every other job sharing the cores (module docstring)."""
    chain = sum(counts[r] * cost.get(r, default) / min(CHAIN[r], cores) for r in counts if r in CHAIN)
    rest = [(counts[r], cost.get(r, default)) for r in counts if r not in CHAIN]
    shared = sum(n * c for n, c in rest) / cores
    longest = max((c for _, c in rest), default=0.0)
    return chain + max(shared, longest)


def idle_wall_costs(costs: Costs) -> Costs:
    """The costs of a study that ran alone on idle cores: each rule's median wall time, which holds what CPU
    seconds miss (the job's start-up, data loading and saving waits)."""
    return replace(costs, cpu={**costs.cpu, **costs.wall})


def gpu_costs(costs: Costs, speedup: float) -> tuple[dict[str, float], float]:
    """Per-job CPU cost with the trainings' epochs on a GPU ``speedup`` times faster, and one training's
    seconds on the card."""
    train = costs.cpu["train_run"]
    on_card = train * costs.epoch_share / speedup
    return {**costs.cpu, "train_run": train * (1 - costs.epoch_share) + on_card}, on_card


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def light_default(cost: dict[str, float]) -> float:
    """The cost of a rule the study never ran (e.g. a new one): the median of its single-job rules."""
    light = [cost[r] for r in CHAIN if r in cost] or list(cost.values())
    return statistics.median(light)


def prediction_table(args, figures: dict) -> list[str]:
    """The table of predictions, in Markdown; its numbers also go into ``figures``."""
    header = (
        "| preset | jobs (trainings) | per training, idle core | "
        + " | ".join(f"{n} cores" for n in args.cores)
        + f" | 1 GPU + {args.gpu_cores} cores (estimate) |"
    )
    lines = [header, "|" + "---|" * (4 + len(args.cores))]
    costs_by_study: dict[str, Costs] = {}

    def measured(source: str) -> Costs:
        if source not in costs_by_study:
            study = Path(args.measured.get(source, MEASURED[source]))
            costs = job_costs(benchmark_table(study, source), metadata_jobs(study, source))
            costs_by_study[source] = idle_wall_costs(costs) if source in args.idle else costs
        return costs_by_study[source]

    borrowed: list[str] = []
    unmeasured: set[str] = set()
    for preset, (configfiles, data_root) in PRESETS.items():
        source = COSTS_OF.get(preset, preset)
        counts = planned_jobs(configfiles, data_root)
        costs, other = measured(source), measured(SAME_FACES[source])
        missing = sorted((set(counts) & set(other.cpu)) - set(costs.cpu))
        costs = replace(costs, cpu={**costs.cpu, **{rule: other.cpu[rule] for rule in missing}})
        borrowed += [f"{preset}: {rule} from {SAME_FACES[source]}" for rule in missing]
        unmeasured.update(set(counts) - set(costs.cpu))
        default = light_default(costs.cpu)
        cells = [minutes(predict(counts, costs.cpu, n, default)) for n in args.cores]
        on_gpu, on_card = gpu_costs(costs, args.gpu_speedup)
        gpu = max(predict(counts, on_gpu, args.gpu_cores, default), counts.get("train_run", 0) * on_card)
        jobs = sum(counts.values())
        figures[f"{preset}/jobs"] = jobs
        figures[f"{preset}/trainings"] = counts.get("train_run", 0)
        figures[f"{preset}/training_s"] = costs.cpu["train_run"]
        for n in args.cores:
            figures[f"{preset}/on_{n}_cores_s"] = predict(counts, costs.cpu, n, default)
        figures[f"{preset}/on_gpu_s"] = gpu
        name = preset + (f" (costs of {source})" if source != preset else "")
        lines.append(
            f"| {name} | {jobs} ({counts.get('train_run', 0)}) | {costs.cpu['train_run']:.1f} s | "
            + " | ".join(cells)
            + f" | {minutes(gpu)} |"
        )
    lines.append("")
    if unmeasured:
        lines.append(
            f"- never measured, costed as the median job of the chain (light): {', '.join(sorted(unmeasured))}"
        )
    if borrowed:
        lines.append(f"- not run in its own study, costed from the same faces' other study: {', '.join(borrowed)}")
    for source, costs in costs_by_study.items():
        study = args.measured.get(source, MEASURED[source])
        listed = ", ".join(f"{rule} {seconds:.1f}" for rule, seconds in sorted(costs.cpu.items()))
        unit = "wall seconds per job on idle cores" if source in args.idle else "CPU-seconds per job"
        lines.append(
            f"- {source} costs from {study} ({costs.trainings} trainings measured): {unit} {listed}; "
            f"trainings got {costs.cpu_share:.0%} of a core while measured, {costs.epoch_share:.0%} of a training "
            "job is epochs"
        )
    return lines


def check(experiment: str, study: Path, stamp: str, cores: int, figures: dict) -> str:
    """Predict one measured Snakemake run from its own jobs and compare with its wall time."""
    logs = sorted((study / ".snakemake" / "log").glob(f"{stamp}*.snakemake.log"))
    if not logs:
        raise FileNotFoundError(f"no Snakemake log {stamp}* in {study}/.snakemake/log")
    started = datetime.strptime(logs[0].name.split(".")[0], "%Y-%m-%dT%H%M%S").timestamp()
    ended = logs[0].stat().st_mtime
    jobs = [job for job in metadata_jobs(study, experiment) if started - 1 <= job.start <= ended]
    if not jobs:
        raise ValueError(f"no job of {experiment} recorded between the log's start and end")
    counts: dict[str, int] = {}
    walls: dict[str, list[float]] = {}
    for job in jobs:
        counts[job.rule] = counts.get(job.rule, 0) + 1
        walls.setdefault(job.rule, []).append(job.seconds)
    wall = {rule: statistics.median(seconds) for rule, seconds in walls.items()}
    predicted = predict(counts, wall, cores, light_default(wall))
    measured = max(job.end for job in jobs) - min(job.start for job in jobs)
    figures[f"check/{experiment}/predicted_s"] = predicted
    figures[f"check/{experiment}/measured_s"] = measured
    return (
        f"check: {experiment} in {study} (log {logs[0].name}): {len(jobs)} jobs on {cores} cores, predicted "
        f"{minutes(predicted)} from the run's own median job times, measured {minutes(measured)} "
        f"({predicted / measured - 1:+.0%})"
    )


def pairs(values: list[str], option: str) -> dict[str, str]:
    found = {}
    for value in values:
        if "=" not in value:
            raise SystemExit(f"{option} takes EXPERIMENT=PATH, not {value!r}")
        key, path = value.split("=", 1)
        found[key] = path
    return found


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--cores", nargs="+", type=int, default=[2, 4, 8, 16])
    parser.add_argument("--gpu-cores", type=int, default=8, help="CPU cores beside the GPU")
    parser.add_argument("--gpu-speedup", type=float, default=10.0, help="assumed: epochs on the GPU vs a core")
    parser.add_argument("--measured", nargs="*", default=[], help="EXPERIMENT=STUDY folder with its costs")
    parser.add_argument(
        "--idle",
        nargs="*",
        default=sorted(IDLE_STUDIES),
        help="experiments whose studies ran alone on idle cores: costed by their jobs' wall times",
    )
    parser.add_argument("--check", nargs="*", default=[], help="EXPERIMENT=STUDY:LOGSTAMP, a measured run")
    parser.add_argument("--check-cores", type=int, default=2)
    args = parser.parse_args()
    args.measured = pairs(args.measured, "--measured")
    figures = {"gpu_speedup_assumed": args.gpu_speedup, "gpu_cores": args.gpu_cores}
    print("\n".join(prediction_table(args, figures)))
    for experiment, where in pairs(args.check, "--check").items():
        study, _, stamp = where.rpartition(":")
        print(check(experiment, Path(study), stamp, args.check_cores, figures))
    record.save(args, __spec__.name, figures, __doc__)


if __name__ == "__main__":
    main()
