import _setup  # noqa: F401

from emoverify import evaluate, runs
from emoverify.models import resolve_device
from emoverify.scriptlog import logged

with logged(snakemake.log[0]):
    runs.use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    faces = runs.load_fold(snakemake.input.manifest, snakemake.input.folds, int(w.fold), p.training["input_size"],
                           label_params={"source": "none"}, splits=("val", "test"))
    if w.reference == "pixels":
        test_emb, val_emb = (evaluate.pixel_embeddings(faces[s]) for s in ("test", "val"))
        metric = "cosine"
    else:
        device = resolve_device(p.device)
        model = evaluate.untrained_model(p.training, int(w.seed), device)
        test_emb, val_emb, metric = evaluate.embed_pair(model, faces["test"], faces["val"], device)
    values = evaluate.verification_report(test_emb, faces["test"], val_emb, faces["val"], metric=metric,
                                          evaluation=p.evaluation, seed=int(w.seed))
    evaluate.save_embeddings(snakemake.output.embeddings, test_emb, faces["test"], method=w.reference, labels="none",
                             fold=int(w.fold), seed=int(w.seed), metric=metric)
    evaluate.write_metrics(snakemake.output.metrics, method=w.reference, labels="none", fold=int(w.fold),
                           seed=int(w.seed), geometry="spherical", values=values, extra={"reference": True})
    print(values)
