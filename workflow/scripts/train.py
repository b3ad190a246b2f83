import _setup  # noqa: F401

from emoverify.layout import Run, job_paths
from emoverify.model.device import job_device, keep_freed_memory, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.training import jobs
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
    jobs.train_runs(
        faces,
        runs,
        job_paths(snakemake.output.model),
        job_paths(snakemake.output.history),
        job_paths(snakemake.output.training_labels),
        method=p.method,
        settings=TrainingSettings.from_recipe(p.training),
        epochs=p.epochs,
        device=job_device(p.device, snakemake.resources),
        console=console,
        dataset_expressions=fold_data.dataset_expressions(snakemake.input.manifest),
    )
