rule train_run:
    input:
        unpack(label_inputs),
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        model=LAYOUT.run_pattern("model.pt"),
        history=LAYOUT.run_pattern("history.csv"),
    log:
        LAYOUT.run_log("train"),
    benchmark:
        LAYOUT.run_benchmark("train")
    conda:
        "../../envs/torch.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu=1,
        mem_mb=6000,
    params:
        method=method_spec,
        labels=label_params,
        training=study.training_recipe(config),
        batch_labels=study.batch_labels(config),
        epochs=config["epochs"],
        device=config["device"],
    script:
        "../scripts/train.py"


rule train:
    input:
        run_files("model.pt"),
