RUN_DIR = f"{OUT}/runs/{{method}}/{{labels}}/fold{{fold}}/seed{{seed}}"


rule train_run:
    conda:
        "../../envs/torch.yaml"
    input:
        unpack(label_inputs),
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        model=f"{RUN_DIR}/model.pt",
        history=f"{RUN_DIR}/history.csv",
    params:
        method=method_spec,
        labels=label_params,
        training=config["training"],
        epochs=config["epochs"],
        device=config["device"],
    threads: config["training"]["threads"]
    resources:
        gpu=1,
        mem_mb=6000,
    log:
        f"{OUT}/logs/train/{{method}}_{{labels}}_fold{{fold}}_seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/train/{{method}}_{{labels}}_fold{{fold}}_seed{{seed}}.tsv"
    script:
        "../scripts/train.py"


rule train:
    input:
        [f"{OUT}/{run.path}/model.pt" for run in RUNS],
