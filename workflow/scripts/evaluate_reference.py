import _setup  # noqa: F401

from emoverify.evaluation import verification
from emoverify.layout import reference_run
from emoverify.model.device import resolve_device, use_threads
from emoverify.registry import NO_LABELS
from emoverify.scriptlog import logged
from emoverify.splits import fold_data

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    run = reference_run(w.reference, int(w.fold), int(w.seed), repeat=int(w.repeat))
    no_labels = {"source": NO_LABELS}
    faces = fold_data.load_rule_fold(snakemake.input, run, p.recipe["input_size"], no_labels, ("val", "test"))
    if run.method == "pixels":
        embeddings = {split: verification.pixel_embeddings(faces[split]) for split in faces}
    else:
        device = resolve_device(p.device)
        embeddings = verification.embed_splits(verification.untrained_model(p.recipe, run.seed, device), faces, device)
    # both references are scored on the sphere (cosine), like the spherical runs
    print(
        verification.score_and_save(
            embeddings,
            faces,
            run,
            geometry="spherical",
            evaluation=p.evaluation,
            outputs=snakemake.output,
            extra={"reference": True},
        )
    )
