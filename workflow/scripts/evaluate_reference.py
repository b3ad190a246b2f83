import _setup  # noqa: F401

from emoverify.evaluation import jobs, pretrained
from emoverify.labels.sources import LabelSource
from emoverify.layout import reference_run
from emoverify.model.device import job_device, keep_freed_memory, use_threads
from emoverify.registry import NO_LABELS
from emoverify.scriptlog import logged
from emoverify.splits import fold_data

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    keep_freed_memory()
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    runs = [reference_run(w.reference, int(w.fold), seed, repeat=int(w.repeat)) for seed in p.seeds]
    no_labels = LabelSource(NO_LABELS).to_params()
    size = p.recipe.get("input_size", pretrained.UNUSED_IMAGE_SIZE)  # a pretrained recognizer's recipe is empty
    faces = fold_data.load_rule_fold(snakemake.input, runs[0], size, no_labels, ("val", "test"))
    jobs.evaluate_references(
        runs,
        jobs.output_pairs(out.embeddings, out.metrics),
        faces,
        p.recipe,
        device=job_device(p.device) if w.reference == "untrained" else None,
        evaluation=p.evaluation,
        features=snakemake.input.get("features"),
    )
