rule detect_expressions:
    input:
        manifest=rules.detect_align.output.manifest,
    output:
        detected=LAYOUT.detected,
    log:
        LAYOUT.log("labels"),
    benchmark:
        LAYOUT.benchmark("labels")
    conda:
        "../../envs/fer.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../scripts/detect_expressions.py"


rule label_agreement:
    input:
        manifest=rules.detect_align.output.manifest,
        detected=rules.detect_expressions.output.detected,
    output:
        metrics=LAYOUT("labels/agreement.json"),
        table=report(
            LAYOUT.table_file("label_agreement.csv"),
            caption="../report/label_agreement.rst",
            category="3. Expression labels",
        ),
        confusion=LAYOUT("labels/confusion.csv"),
        figure=report(
            LAYOUT.figure("label_confusion.png"),
            caption="../report/label_confusion.rst",
            category="3. Expression labels",
        ),
    log:
        LAYOUT.log("label_agreement"),
    conda:
        "../../envs/base.yaml"
    params:
        confidence_threshold=config["labels"]["confidence_threshold"],
        development_fraction=config["development_fraction"],
        development_seed=config["development_seed"],
        development_partition=config["development_partition"],
    script:
        "../scripts/label_agreement.py"


rule labels:
    input:
        rules.detect_expressions.output.detected,
        rules.label_agreement.output.table,
