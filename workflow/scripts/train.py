import _setup  # noqa: F401

from emoverify.layout import Run
from emoverify.model.device import job_device, keep_freed_memory, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.training import jobs
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import TrainingSettings

with logged(snakemake.log[0]) as console:
    use_threads(snakemake.threads)
    keep_freed_memory()
    p, w = snakemake.params, snakemake.wildcards
    runs = [Run(w.method, w.label_source, int(w.fold), seed, repeat=int(w.repeat)) for seed in p.seeds]
    splits = ("train", "val")
    faces = fold_data.load_rule_fold(
        snakemake.input, runs[0], p.training["input_size"], p.label_params, splits, p.batch_label_params
    )
    dataset_expressions = fold_data.dataset_expressions(snakemake.input.manifest)
    jobs.train_runs(
        prepare_fold(faces["train"], faces["val"], dataset_expressions),
        runs,
        jobs.run_outputs(snakemake.output.model, snakemake.output.history, snakemake.output.training_labels),
        method=p.method,
        settings=TrainingSettings.from_recipe(p.training),
        job=jobs.JobSettings(p.epochs, job_device(p.device, snakemake.resources), console),
    )
