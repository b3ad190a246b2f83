rule evaluate_run:
    input:
        unpack(label_inputs),
        model=rules.train_run.output.model,
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        embeddings=LAYOUT.run_pattern("embeddings.npz"),
        metrics=LAYOUT.run_pattern("metrics.json"),
    log:
        LAYOUT.run_log("evaluate"),
    conda:
        "../../envs/torch.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        labels=label_params,
        evaluation=study.scoring_settings(config),
        device=config["device"],
    script:
        "../scripts/evaluate.py"


# Raw pixels and the untrained backbone: what a trained model must beat.
rule evaluate_reference:
    input:
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        embeddings=LAYOUT.reference_pattern("embeddings.npz"),
        metrics=LAYOUT.reference_pattern("metrics.json"),
    log:
        LAYOUT.reference_log(),
    conda:
        "../../envs/torch.yaml"
    threads: config["training"]["threads"]
    resources:
        mem_mb=4000,
    params:
        recipe=reference_recipe,
        evaluation=study.scoring_settings(config),
        device=config["device"],
    script:
        "../scripts/evaluate_reference.py"


rule evaluate:
    input:
        run_files("metrics.json"),
        reference_files("metrics.json"),
