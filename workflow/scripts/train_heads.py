from types import SimpleNamespace

import _setup  # noqa: F401

from emoverify.model.device import job_device, keep_freed_memory, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.training import jobs

with logged(snakemake.log[0]) as console:
    use_threads(snakemake.threads)
    keep_freed_memory()
    p, w = snakemake.params, snakemake.wildcards
    unit = {"repeat": int(w.repeat), "fold": int(w.fold)}
    where = SimpleNamespace(**unit)  # the fold unit load_rule_fold reads
    jobs.train_unit(
        lambda label_params, size: fold_data.load_rule_fold(
            snakemake.input, where, size, label_params, ("train", "val"), p.batch_label_params
        ),
        p.members,
        jobs.run_outputs(snakemake.output.model, snakemake.output.history, snakemake.output.training_labels),
        **unit,
        job=jobs.JobSettings(p.epochs, job_device(p.device, snakemake.resources), console),
        dataset_expressions=fold_data.dataset_expressions(snakemake.input.manifest),
    )
