import _setup  # noqa: F401

from emoverify.evaluation import jobs
from emoverify.layout import reference_run
from emoverify.model.device import job_device, use_threads
from emoverify.registry import NO_LABELS
from emoverify.scriptlog import logged
from emoverify.splits import fold_data

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    runs = [reference_run(w.reference, int(w.fold), seed, repeat=int(w.repeat)) for seed in p.seeds]
    no_labels = {"source": NO_LABELS}
    faces = fold_data.load_rule_fold(snakemake.input, runs[0], p.recipe["input_size"], no_labels, ("val", "test"))
    jobs.evaluate_references(
        runs,
        jobs.output_pairs(out.embeddings, out.metrics),
        faces,
        p.recipe,
        device=job_device(p.device) if w.reference != "pixels" else None,
        evaluation=p.evaluation,
    )
