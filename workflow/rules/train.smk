if BATCH_HEADS:

    # every head run of a fold unit in one job (batch_heads), each written to its own run folder
    rule train_run:
        input:
            unpack(unit_label_inputs),
            unpack(run_inputs),
            manifest=rules.detect_align.output.manifest,
            folds=rules.make_splits.output.folds,
        output:
            model=unit_outputs("model.pt"),
            history=unit_outputs("history.csv"),
            training_labels=unit_outputs("training_labels.csv"),
        log:
            LAYOUT.unit_log("train"),
        benchmark:
            LAYOUT.unit_benchmark("train")
        conda:
            "../../envs/torch.yaml"
        threads: config["training"]["threads"]
        resources:
            gpu=1,
            gpu_slots=1,
            mem_mb=6000,
        params:
            members=UNIT_RUNS,
            batch_label_params=study.batch_label_params(config),
            epochs=config["epochs"],
            device=config["device"],
        script:
            "../scripts/train_heads.py"

else:

    rule train_run:
        input:
            unpack(label_inputs),
            unpack(run_inputs),
            manifest=rules.detect_align.output.manifest,
            folds=rules.make_splits.output.folds,
        output:
            model=job_outputs("model.pt"),
            history=job_outputs("history.csv"),
            training_labels=job_outputs("training_labels.csv"),
        log:
            LAYOUT.job_log("train", JOB_SEEDS is not None),
        benchmark:
            LAYOUT.job_benchmark("train", JOB_SEEDS is not None)
        conda:
            "../../envs/torch.yaml"
        threads: config["training"]["threads"]
        resources:
            gpu=1,
            gpu_slots=1,
            mem_mb=6000,
        params:
            method=method_spec,
            label_params=label_params,
            training=run_training,
            batch_label_params=study.batch_label_params(config),
            epochs=config["epochs"],
            seeds=job_seeds,
            device=config["device"],
        script:
            "../scripts/train.py"


rule train:
    input:
        run_files("model.pt"),
