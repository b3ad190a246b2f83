rule evaluate_run:
    conda:
        "../../envs/torch.yaml"
    input:
        unpack(label_inputs),
        model=rules.train_run.output.model,
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        embeddings=f"{RUN_DIR}/embeddings.npz",
        metrics=f"{RUN_DIR}/metrics.json",
    params:
        labels=label_params,
        evaluation=config["evaluation"],
        device=config["device"],
    threads: config["training"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    log:
        f"{OUT}/logs/evaluate/{{method}}_{{labels}}_fold{{fold}}_seed{{seed}}.log",
    script:
        "../scripts/evaluate.py"


rule evaluate_reference:
    """Raw pixels and the untrained backbone: what a trained model must beat."""
    conda:
        "../../envs/torch.yaml"
    input:
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        embeddings=f"{OUT}/references/{{reference}}/fold{{fold}}/seed{{seed}}/embeddings.npz",
        metrics=f"{OUT}/references/{{reference}}/fold{{fold}}/seed{{seed}}/metrics.json",
    params:
        training=config["training"],
        evaluation=config["evaluation"],
        device=config["device"],
    threads: config["training"]["threads"]
    resources:
        mem_mb=4000,
    log:
        f"{OUT}/logs/evaluate/reference_{{reference}}_fold{{fold}}_seed{{seed}}.log",
    script:
        "../scripts/evaluate_reference.py"


rule evaluate:
    input:
        [f"{OUT}/{run.path}/metrics.json" for run in RUNS],
        [f"{OUT}/references/{run.method}/fold{run.fold}/seed{run.seed}/metrics.json" for run in REFERENCE_RUNS],
