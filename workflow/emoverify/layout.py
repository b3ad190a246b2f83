"""Where every file of a study lives under ``results/<experiment>/``: the one owner of those paths.

Rules take their patterns from here, the report parses run folders back with ``parse_run_dir``, and nothing
else spells a run folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from emoverify.registry import LABEL_SOURCES, NO_LABELS

RUN_DIR = "runs/{method}/{label_source}/repeat{repeat}/fold{fold}/seed{seed}"
REFERENCE_DIR = "references/{reference}/repeat{repeat}/fold{fold}/seed{seed}"
# experiment and method names: letters and digits in words joined by single "_" or "-" (a folder name that stays
# inside results/, and never the "__" that joins a method and its tuning candidate's settings); the schema's
# experiment pattern is the same string
NAME_PATTERN = r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$"
# what a {method} wildcard matches: a method or a tuning candidate (<method>__<settings>)
METHOD_WILDCARD = r"[A-Za-z0-9_-]+"
_RUN_NAME = "{method}_{label_source}_repeat{repeat}_fold{fold}_seed{seed}"  # a run in log and benchmark file names
_GROUP_NAME = (
    "{method}_{label_source}_repeat{repeat}_fold{fold}_seeds"  # every seed of a group, in one job (batch_seeds)
)
_UNIT_NAME = "heads_repeat{repeat}_fold{fold}"  # every run of a fold unit, in one job (batch_heads)


@dataclass(frozen=True)
class Run:
    """One trained (or reference) model: a method with a label source, on one fold of one repeat of the
    cross-validation, from one seed."""

    method: str
    # the `label_sources` entry it trains on; written records and tables (metrics, checkpoints, runs.csv,
    # selections) keep their older column name `labels`, so committed studies stay byte-identical
    label_source: str
    fold: int
    seed: int
    repeat: int = 0
    reference: bool = False

    @property
    def path(self) -> str:
        """The run's folder, relative to the experiment folder."""
        where = {"repeat": self.repeat, "fold": self.fold, "seed": self.seed}
        if self.reference:
            return REFERENCE_DIR.format(reference=self.method, **where)
        return RUN_DIR.format(method=self.method, label_source=self.label_source, **where)


class LayoutError(ValueError):
    """A name or path that would put a study's files outside results/<experiment>/."""


def name_problem(kind: str, name) -> str | None:
    """Why ``name`` cannot name an experiment or method (the name is in the message), or None."""
    if isinstance(name, str) and re.fullmatch(NAME_PATTERN, name):
        return None
    return (
        f"{kind} name {name!r} is not allowed: use letters and digits, in words joined by single '_' or '-' "
        "(no '.', '/', spaces or '__'), e.g. my_study-2"
    )


def job_paths(paths) -> list[str]:
    """A train or evaluate rule's file entry as a list: one path (one run per job) or a list (batch_seeds)."""
    return [paths] if isinstance(paths, str) else list(paths)


def reference_run(reference: str, fold: int, seed: int, repeat: int = 0) -> Run:
    return Run(reference, NO_LABELS, fold, seed, repeat=repeat, reference=True)


def parse_run_dir(path: str | Path) -> Run | None:
    """The run a path inside a run or reference folder belongs to, or None for any other path."""
    parts = Path(path).parts
    for at in range(1, len(parts) - 1):
        repeat = re.fullmatch(r"repeat(\d+)", parts[at - 1])
        fold, seed = re.fullmatch(r"fold(\d+)", parts[at]), re.fullmatch(r"seed(-?\d+)", parts[at + 1])
        if not (repeat and fold and seed):
            continue
        where = {"fold": int(fold.group(1)), "seed": int(seed.group(1)), "repeat": int(repeat.group(1))}
        if at >= 3 and parts[at - 3] == "references":
            return reference_run(parts[at - 2], **where)
        if at >= 4 and parts[at - 4] == "runs" and parts[at - 2] in LABEL_SOURCES:
            return Run(parts[at - 3], parts[at - 2], **where)
    return None


def _file(relative: str) -> property:
    return property(lambda layout: layout(relative), doc=f"results/<experiment>/{relative}")


@dataclass(frozen=True)
class Layout:
    """The files of one experiment; every attribute and method gives a path string as Snakemake wants it."""

    experiment: str
    results: str = "results"

    def __post_init__(self):
        problem = name_problem("experiment", self.experiment)
        if problem:
            raise LayoutError(problem)

    def outside(self, paths) -> list[str]:
        """The paths (patterns with wildcards allowed) that do not stay under results/<experiment>/."""
        root = os.path.normpath(self.root)
        return [str(path) for path in paths if not os.path.normpath(str(path)).startswith(root + os.sep)]

    def check_inside(self, paths) -> None:
        """Stop (LayoutError) when any of ``paths`` would be written outside results/<experiment>/."""
        outside = self.outside(paths)
        if outside:
            raise LayoutError(
                f"{len(outside)} output path(s) outside {self.root}/: {', '.join(outside[:5])}; a study writes "
                "only under its experiment folder"
            )

    @property
    def root(self) -> str:
        return f"{self.results}/{self.experiment}"

    def __call__(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    demo_images = _file("dataset/demo_images")
    table = _file("dataset/table.csv")
    content_hashes = _file("dataset/content_hashes.csv")  # sha1 per file, by path, size, mtime, inode, ctime (cache)
    run_holder = _file("running.json")  # the live Snakemake run on this experiment (emoverify.runlock)
    manual_labels_check = _file("dataset/manual_labels.ok")
    manifest = _file("faces/manifest.csv")
    face_status = _file("faces/status_summary.csv")
    crops = _file("faces/crops")
    face_cache = _file("faces/cache")  # aligned faces by image content and settings, kept across reruns
    detected = _file("labels/detected.csv")
    folds = _file("splits/folds.csv")
    split_summary = _file("splits/summary.csv")

    def features(self, extractor: str) -> str:
        """The cached descriptors of one pretrained recognizer ("{extractor}" gives the rule's pattern)."""
        return self(f"features/{extractor}.npz")

    def chips(self, extractor: str) -> str:
        """The 150 px chips the dlib features job described, kept for a dlib_resnet backbone ("{extractor}" gives
        the rule's pattern; only dlib keeps them)."""
        return self(f"features/{extractor}_chips.npz")

    def dlib_activations(self, level: str) -> str:
        """dlib's frozen part's activations of every chip and its mirror image, the input of ``level``'s trainable
        part ("{level}" gives the rule's pattern)."""
        return self(f"features/dlib_resnet_{level}.npz")

    def pixels(self, size) -> str:
        """The usable faces decoded once at ``size`` px (faces.pixels; "{size}" gives the rule's pattern)."""
        return self(f"faces/pixels_{size}.npy")

    def pixels_record(self, size) -> str:
        """Beside the pixel cache: its image ids, size and the sha1 of the manifest it was made from."""
        return self(f"faces/pixels_{size}.json")

    def run_pattern(self, name: str) -> str:
        """A file of every run, with the wildcards {method}, {label_source}, {repeat}, {fold}, {seed}."""
        return self(f"{RUN_DIR}/{name}")

    def reference_pattern(self, name: str) -> str:
        """A file of every reference, with the wildcards {reference}, {repeat}, {fold}, {seed}."""
        return self(f"{REFERENCE_DIR}/{name}")

    def job_outputs(self, name: str, seeds: list[int] | None, reference: bool = False) -> str | list[str]:
        """A job's file of every run it holds: one run's (``seeds`` None, a {seed} wildcard), or, with
        ``batch_seeds``, one per seed with the run wildcards but {seed} filled in."""
        pattern = self.reference_pattern(name) if reference else self.run_pattern(name)
        if seeds is None:
            return pattern
        return [pattern.replace("{seed}", str(int(seed))) for seed in seeds]

    def unit_outputs(self, name: str, members: list[Run]) -> list[str]:
        """A fold unit's job's file of every run it holds (``batch_heads``): each member's run folder with
        {repeat} and {fold} left as wildcards."""
        unit = {"repeat": "{repeat}", "fold": "{fold}"}
        return [
            self(f"{RUN_DIR.format(method=m.method, label_source=m.label_source, seed=m.seed, **unit)}/{name}")
            for m in members
        ]

    def unit_log(self, stage: str) -> str:
        return self(f"logs/{stage}/{_UNIT_NAME}.log")

    def unit_benchmark(self, stage: str) -> str:
        return self(f"benchmarks/{stage}/{_UNIT_NAME}.tsv")

    def job_log(self, stage: str, batched: bool) -> str:
        """The log of one job of a stage: a run's, or (``batched``) a method x labels x fold group's."""
        return self(f"logs/{stage}/{_GROUP_NAME}.log") if batched else self.run_log(stage)

    def job_benchmark(self, stage: str, batched: bool) -> str:
        return self(f"benchmarks/{stage}/{_GROUP_NAME}.tsv") if batched else self.run_benchmark(stage)

    def reference_job_log(self, batched: bool) -> str:
        if batched:
            return self("logs/evaluate/reference_{reference}_repeat{repeat}_fold{fold}_seeds.log")
        return self.reference_log()

    def run_file(self, run: Run, name: str) -> str:
        return self(f"{run.path}/{name}")

    def run_log(self, stage: str) -> str:
        """The log of each run of a stage, with the run wildcards."""
        return self(f"logs/{stage}/{_RUN_NAME}.log")

    def run_benchmark(self, stage: str) -> str:
        return self(f"benchmarks/{stage}/{_RUN_NAME}.tsv")

    def reference_log(self) -> str:
        return self("logs/evaluate/reference_{reference}_repeat{repeat}_fold{fold}_seed{seed}.log")

    def log(self, name: str) -> str:
        return self(f"logs/{name}.log")

    def benchmark(self, name: str) -> str:
        return self(f"benchmarks/{name}.tsv")

    def selection(self, method="{method}", label_source="{label_source}", repeat="{repeat}", fold="{fold}") -> str:
        """The tuning selection of one (method, label source, repeat, fold); the wildcards by default."""
        return self(f"selection/{method}/{label_source}/repeat{repeat}/fold{fold}.json")

    def table_file(self, name: str) -> str:
        return self(f"tables/{name}")

    def figure(self, name: str) -> str:
        return self(f"figures/{name}")
