rule generate_demo:
    conda:
        "../../envs/base.yaml"
    output:
        folder=directory(f"{OUT}/dataset/demo_images"),
    params:
        demo=config["demo"],
    log:
        f"{OUT}/logs/generate_demo.log",
    script:
        "../scripts/generate_demo.py"


rule dataset:
    conda:
        "../../envs/base.yaml"
    input:
        unpack(demo_input),
    output:
        table=f"{OUT}/dataset/table.csv",
    params:
        adapter=config["dataset"],
        root=config["data_root"],
        expression_map=config["expression_map"],
        ckplus_last_frames=config["ckplus_last_frames"],
        csv_columns=config["csv_columns"],
    log:
        f"{OUT}/logs/dataset.log",
    script:
        "../scripts/dataset.py"


rule detect_align:
    conda:
        "../../envs/torch.yaml"
    input:
        table=rules.dataset.output.table,
    output:
        manifest=f"{OUT}/faces/manifest.csv",
        summary=report(
            f"{OUT}/faces/status_summary.csv",
            caption="../report/face_status.rst",
            category="1. Faces",
        ),
        crops=directory(f"{OUT}/faces/crops"),
    params:
        faces=config["faces"],
        device=config["device"],
    threads: 2
    resources:
        mem_mb=4000,
    log:
        f"{OUT}/logs/faces.log",
    benchmark:
        f"{OUT}/benchmarks/faces.tsv"
    script:
        "../scripts/faces.py"


rule faces:
    input:
        rules.detect_align.output.manifest,


rule check_manual_labels:
    """Runs that ask for manual labels wait for this check, so a dataset without them stops early and clearly."""
    input:
        table=rules.dataset.output.table,
    output:
        flag=f"{OUT}/dataset/manual_labels.ok",
    conda:
        "../../envs/base.yaml"
    log:
        f"{OUT}/logs/check_manual_labels.log",
    script:
        "../scripts/check_manual_labels.py"
