rule detect_expressions:
    conda:
        "../../envs/fer.yaml"
    input:
        manifest=rules.detect_align.output.manifest,
    output:
        detected=f"{OUT}/labels/detected.csv",
    threads: 2
    resources:
        mem_mb=4000,
    log:
        f"{OUT}/logs/labels.log",
    benchmark:
        f"{OUT}/benchmarks/labels.tsv"
    script:
        "../scripts/detect_expressions.py"


rule label_agreement:
    conda:
        "../../envs/base.yaml"
    input:
        manifest=rules.detect_align.output.manifest,
        detected=rules.detect_expressions.output.detected,
    output:
        metrics=f"{OUT}/labels/agreement.json",
        table=report(
            f"{OUT}/tables/label_agreement.csv",
            caption="../report/label_agreement.rst",
            category="2. Expression labels",
        ),
        confusion=f"{OUT}/labels/confusion.csv",
        figure=report(
            f"{OUT}/figures/label_confusion.png",
            caption="../report/label_confusion.rst",
            category="2. Expression labels",
        ),
    params:
        confidence_threshold=config["labels"]["confidence_threshold"],
    log:
        f"{OUT}/logs/label_agreement.log",
    script:
        "../scripts/label_agreement.py"


rule labels:
    input:
        rules.detect_expressions.output.detected,
        rules.label_agreement.output.table,
