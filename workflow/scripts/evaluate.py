import _setup  # noqa: F401

from emoverify.evaluation import jobs, manipulation
from emoverify.layout import Run, job_paths
from emoverify.model.device import job_device, keep_freed_memory, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    keep_freed_memory()
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    runs = [Run(w.method, w.label_source, int(w.fold), seed, repeat=int(w.repeat)) for seed in p.seeds]
    jobs.evaluate_runs(
        runs,
        job_paths(snakemake.input.model),
        jobs.output_pairs(out.embeddings, out.metrics, out.manipulation),
        lambda size: fold_data.load_rule_fold(snakemake.input, runs[0], size, p.label_params, ("train", "val", "test")),
        device=job_device(p.device),
        evaluation=p.evaluation,
        truth=manipulation.study_truth(
            snakemake.input.manifest,
            p.truth,
            snakemake.input.get("detected"),
            folds_path=snakemake.input.folds,
            repeat=runs[0].repeat,
            fold=runs[0].fold,
        ),
    )
