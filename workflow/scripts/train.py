import _setup  # noqa: F401

from emoverify.layout import Run
from emoverify.model.device import job_device, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.training import jobs

with logged(snakemake.log[0]) as console:
    use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    device = job_device(p.device, snakemake.resources)
    faces = fold_data.load_rule_fold(snakemake.input, int(w.fold), p.training["input_size"], p.labels, ("train", "val"))
    jobs.train_runs(
        faces,
        [Run(w.method, w.labels, int(w.fold), seed) for seed in p.seeds],
        jobs.as_list(snakemake.output.model),
        jobs.as_list(snakemake.output.history),
        method=p.method,
        training=p.training,
        epochs=p.epochs,
        device=device,
        console=console,
    )
