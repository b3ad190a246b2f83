import _setup  # noqa: F401

from emoverify.layout import Run
from emoverify.model import checkpoint
from emoverify.model.device import resolve_device, use_threads
from emoverify.scriptlog import logged
from emoverify.splits import fold_data
from emoverify.training import loop

with logged(snakemake.log[0]) as console:
    use_threads(snakemake.threads)
    p, w = snakemake.params, snakemake.wildcards
    device = resolve_device(p.device)
    run = Run(w.method, w.labels, int(w.fold), int(w.seed), repeat=int(w.repeat))
    identity = {
        "method_name": run.method,
        "labels": run.labels,
        "repeat": run.repeat,
        "fold": run.fold,
        "seed": run.seed,
    }
    splits = ("train", "val")
    faces = fold_data.load_rule_fold(snakemake.input, run, p.training["input_size"], p.labels, splits, p.batch_labels)
    name = f"{run.method}/{run.labels}/repeat{run.repeat}/fold{run.fold}/seed{run.seed}"
    print(f"{name} on {device}: {len(faces['train'])} training and {len(faces['val'])} validation faces")
    try:
        result = loop.train_model(
            faces["train"],
            faces["val"],
            method=p.method,
            training=p.training,
            epochs=p.epochs,
            seed=run.seed,
            device=device,
            progress_stream=console,
            run_name=name,
            on_epoch=lambda history: history.to_csv(snakemake.output.history, index=False),
            dataset_expressions=fold_data.dataset_expressions(snakemake.input.manifest),
        )
    except loop.TrainingDataError as error:
        print(f"run not trainable on this data: {error}")
        checkpoint.save_failed_checkpoint(
            snakemake.output.model, str(error), method=p.method, training=p.training, extra=identity
        )
        open(snakemake.output.history, "w").close()
    else:
        checkpoint.save_checkpoint(snakemake.output.model, result, method=p.method, training=p.training, extra=identity)
        print(f"best epoch {result.best_epoch} of {result.epochs_run}, chosen by {result.selection}")
        for loss, pairs in result.pairs_seen.items():
            print(f"{loss} used {pairs} pairs over the training" + (" (it trained nothing)" if pairs == 0 else ""))
