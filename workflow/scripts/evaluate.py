import _setup  # noqa: F401

from emoverify.evaluation import verification
from emoverify.layout import Run
from emoverify.model import checkpoint
from emoverify.model.device import resolve_device, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data

with logged(snakemake.log[0]):
    use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    run = Run(w.method, w.labels, int(w.fold), int(w.seed), repeat=int(w.repeat))
    device = resolve_device(p.device)
    model, state = checkpoint.load_checkpoint(snakemake.input.model, device)
    if model is None:
        print(f"training failed, nothing to evaluate: {state['failed']}")
        verification.record_failed_run(snakemake.output, run, state["failed"], state["method"]["geometry"])
    else:
        input_size = int(state["training"]["input_size"])
        faces = fold_data.load_rule_fold(snakemake.input, run, input_size, p.labels, ("val", "test"))
        embeddings = verification.embed_splits(model, faces, device)
        facts = {"training": checkpoint.training_facts(state)}
        values = verification.score_and_save(
            embeddings,
            faces,
            run,
            geometry=model.geometry,
            evaluation=p.evaluation,
            outputs=snakemake.output,
            extra=facts,
        )
        print(values, facts)
