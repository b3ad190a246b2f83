import _setup  # noqa: F401

from emoverify import runs, train
from emoverify.models import resolve_device
from emoverify.scriptlog import logged

with logged(snakemake.log[0]) as console:
    runs.use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    device = resolve_device(p.device)
    run = {"method_name": w.method, "labels": w.labels, "fold": int(w.fold), "seed": int(w.seed)}
    faces = runs.load_fold(snakemake.input.manifest, snakemake.input.folds, int(w.fold), p.training["input_size"],
                           label_params=p.labels, detected_path=snakemake.input.get("detected"),
                           splits=("train", "val"))
    print(f"{w.method} / {w.labels} / fold {w.fold} / seed {w.seed} on {device}: "
          f"{len(faces['train'])} training and {len(faces['val'])} validation faces")
    try:
        result = train.train_model(faces["train"], faces["val"], method=p.method, training=p.training,
                                   epochs=p.epochs, seed=int(w.seed), device=device, progress_stream=console,
                                   run_name=f"{w.method}/{w.labels}/fold{w.fold}/seed{w.seed}",
                                   on_epoch=lambda history: history.to_csv(snakemake.output.history, index=False))
    except train.TrainingDataError as error:
        print(f"run not trainable on this data: {error}")
        train.save_failed_checkpoint(snakemake.output.model, str(error), method=p.method, training=p.training,
                                     extra=run)
        open(snakemake.output.history, "w").close()
    else:
        train.save_checkpoint(snakemake.output.model, result, method=p.method, training=p.training, extra=run)
        print(f"best epoch {result.best_epoch}, validation AUC {result.best_val_auc:.4f}")
