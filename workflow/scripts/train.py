import _setup  # noqa: F401

from emoverify.model import checkpoint
from emoverify.model.device import resolve_device, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.training import loop

with logged(snakemake.log[0]) as console:
    use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    device = resolve_device(p.device)
    run = {"method_name": w.method, "labels": w.labels, "fold": int(w.fold), "seed": int(w.seed)}
    faces = fold_data.load_rule_fold(snakemake.input, int(w.fold), p.training["input_size"], p.labels, ("train", "val"))
    print(
        f"{w.method} / {w.labels} / fold {w.fold} / seed {w.seed} on {device}: "
        f"{len(faces['train'])} training and {len(faces['val'])} validation faces"
    )
    try:
        result = loop.train_model(
            faces["train"],
            faces["val"],
            method=p.method,
            training=p.training,
            epochs=p.epochs,
            seed=int(w.seed),
            device=device,
            progress_stream=console,
            run_name=f"{w.method}/{w.labels}/fold{w.fold}/seed{w.seed}",
            on_epoch=lambda history: history.to_csv(snakemake.output.history, index=False),
        )
    except loop.TrainingDataError as error:
        print(f"run not trainable on this data: {error}")
        checkpoint.save_failed_checkpoint(
            snakemake.output.model, str(error), method=p.method, training=p.training, extra=run
        )
        open(snakemake.output.history, "w").close()
    else:
        checkpoint.save_checkpoint(snakemake.output.model, result, method=p.method, training=p.training, extra=run)
        print(f"best epoch {result.best_epoch}, validation AUC {result.best_val_auc:.4f}")
