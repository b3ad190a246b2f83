import _setup  # noqa: F401

from emoverify import evaluate, runs, train
from emoverify.models import resolve_device
from emoverify.scriptlog import logged

with logged(snakemake.log[0]):
    runs.use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    run = {"method": w.method, "labels": w.labels, "fold": int(w.fold), "seed": int(w.seed)}
    device = resolve_device(p.device)
    model, checkpoint = train.load_checkpoint(snakemake.input.model, device)
    if model is None:
        reason = checkpoint["failed"]
        print(f"training failed, nothing to evaluate: {reason}")
        evaluate.save_failed_embeddings(snakemake.output.embeddings, reason, **run)
        evaluate.write_metrics(snakemake.output.metrics, geometry=checkpoint["method"]["geometry"], values={},
                               status=f"failed: {reason}", **run)
    else:
        faces = runs.load_fold(snakemake.input.manifest, snakemake.input.folds, int(w.fold),
                               int(checkpoint["training"]["input_size"]), label_params=p.labels,
                               detected_path=snakemake.input.get("detected"), splits=("val", "test"))
        test_emb, val_emb, metric = evaluate.embed_pair(model, faces["test"], faces["val"], device)
        values = evaluate.verification_report(test_emb, faces["test"], val_emb, faces["val"], metric=metric,
                                              evaluation=p.evaluation, seed=int(w.seed))
        evaluate.save_embeddings(snakemake.output.embeddings, test_emb, faces["test"], metric=metric, **run)
        evaluate.write_metrics(snakemake.output.metrics, geometry=model.geometry, values=values, **run)
        print(values)
