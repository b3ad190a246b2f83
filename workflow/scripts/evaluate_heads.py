from types import SimpleNamespace

import _setup  # noqa: F401

from emoverify.evaluation import jobs, manipulation
from emoverify.model.device import job_device, keep_freed_memory, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    keep_freed_memory()
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    unit = {"repeat": int(w.repeat), "fold": int(w.fold)}
    where = SimpleNamespace(**unit)  # the fold unit load_rule_fold reads
    jobs.evaluate_unit(
        p.members,
        list(snakemake.input.model),
        jobs.output_pairs(list(out.embeddings), list(out.metrics), list(out.manipulation)),
        lambda labels, size: fold_data.load_rule_fold(snakemake.input, where, size, labels, ("train", "val", "test")),
        **unit,
        device=job_device(p.device),
        evaluation=p.evaluation,
        truth=manipulation.study_truth(
            snakemake.input.manifest,
            p.truth,
            snakemake.input.get("detected"),
            folds_path=snakemake.input.folds,
            repeat=where.repeat,
            fold=where.fold,
        ),
    )
