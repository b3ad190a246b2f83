if BATCH_HEADS:

    # every head run of a fold unit scored in one job (batch_heads)
    rule evaluate_run:
        input:
            unpack(unit_evaluate_label_inputs),
            unpack(run_inputs),
            model=rules.train_run.output.model,
            manifest=rules.detect_align.output.manifest,
            folds=rules.make_splits.output.folds,
        output:
            embeddings=unit_outputs("embeddings.npz"),
            metrics=unit_outputs("metrics.json"),
            manipulation=unit_outputs("manipulation.json"),
        log:
            LAYOUT.unit_log("evaluate"),
        conda:
            "../../envs/torch.yaml"
        threads: config["training"]["threads"]
        resources:
            gpu=1,
            gpu_slots=1,
            mem_mb=4000,
        params:
            members=UNIT_RUNS,
            evaluation=study.scoring_settings(config),
            truth=study.true_label_params(config),
            device=config["device"],
        script:
            "../scripts/evaluate_heads.py"

else:

    rule evaluate_run:
        input:
            unpack(evaluate_label_inputs),
            unpack(run_inputs),
            model=rules.train_run.output.model,
            manifest=rules.detect_align.output.manifest,
            folds=rules.make_splits.output.folds,
        output:
            embeddings=job_outputs("embeddings.npz"),
            metrics=job_outputs("metrics.json"),
            manipulation=job_outputs("manipulation.json"),
        log:
            LAYOUT.job_log("evaluate", JOB_SEEDS is not None),
        conda:
            "../../envs/torch.yaml"
        threads: config["training"]["threads"]
        resources:
            gpu=1,
            gpu_slots=1,
            mem_mb=4000,
        params:
            label_params=label_params,
            evaluation=study.scoring_settings(config),
            truth=study.true_label_params(config),
            seeds=job_seeds,
            device=config["device"],
        script:
            "../scripts/evaluate.py"


# Raw pixels and the untrained backbone: what a trained model must beat; a pretrained recognizer's
# cached descriptors (features.smk): what "good" means.
rule evaluate_reference:
    input:
        unpack(reference_inputs),
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        embeddings=job_outputs("embeddings.npz", reference=True),
        metrics=job_outputs("metrics.json", reference=True),
    log:
        LAYOUT.reference_job_log(JOB_SEEDS is not None),
    conda:
        "../../envs/torch.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu_slots=1,
        mem_mb=4000,
    params:
        recipe=reference_recipe,
        evaluation=study.scoring_settings(config),
        seeds=job_seeds,
        device=config["device"],
    script:
        "../scripts/evaluate_reference.py"


rule evaluate:
    input:
        run_files("metrics.json"),
        reference_files("metrics.json"),
