import _setup  # noqa: F401

from emoverify.evaluation import manipulation
from emoverify.layout import Run
from emoverify.model.device import job_device, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.tuning import grid_check

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    run = Run(w.method, w.label_source, int(w.fold), int(w.seed), repeat=int(w.repeat))
    values = grid_check.check_run(
        snakemake.output.check,
        run,
        snakemake.input.model,
        lambda size: fold_data.load_rule_fold(snakemake.input, run, size, p.label_params, ("train", "val")),
        manipulation.study_truth(snakemake.input.manifest, p.truth, snakemake.input.get("detected")),
        job_device(p.device),
    )
    print(f"{run.path}: held-out people {values}", flush=True)
