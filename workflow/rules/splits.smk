rule make_splits:
    input:
        manifest=rules.detect_align.output.manifest,
    output:
        folds=LAYOUT.folds,
        summary=LAYOUT.split_summary,
    log:
        LAYOUT.log("splits"),
    conda:
        "../../envs/base.yaml"
    params:
        n_folds=config["folds"],
        repeats=config["repeats"],
        seed=config["split_seed"],
        val_fraction=config["val_fraction"],
        development_fraction=config["development_fraction"],
        development_seed=config["development_seed"],
        partition=config["partition"],
        development_partition=config["development_partition"],
        recipe_record=study.recipe_record(config, workflow.basedir),
    script:
        "../scripts/splits.py"


rule splits:
    input:
        rules.make_splits.output.folds,
