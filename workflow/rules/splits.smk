rule make_splits:
    conda:
        "../../envs/base.yaml"
    input:
        manifest=rules.detect_align.output.manifest,
    output:
        folds=f"{OUT}/splits/folds.csv",
        summary=f"{OUT}/splits/summary.csv",
    params:
        n_folds=config["folds"],
        seed=config["split_seed"],
        val_fraction=config["val_fraction"],
    log:
        f"{OUT}/logs/splits.log",
    script:
        "../scripts/splits.py"


rule splits:
    input:
        rules.make_splits.output.folds,
