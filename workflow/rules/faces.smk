rule generate_demo:
    output:
        folder=directory(LAYOUT.demo_images),
    log:
        LAYOUT.log("generate_demo"),
    conda:
        "../../envs/base.yaml"
    params:
        demo=config["demo"],
    script:
        "../scripts/generate_demo.py"


rule dataset:
    input:
        unpack(demo_input),
    output:
        table=LAYOUT.table,
    log:
        LAYOUT.log("dataset"),
    conda:
        "../../envs/base.yaml"
    params:
        adapter=config["dataset"],
        root=config["data_root"],
        expression_map=config["expression_map"],
        ckplus_last_frames=config["ckplus_last_frames"],
        csv_columns=config["csv_columns"],
        data=DATA_DIGEST,
        hash_cache=LAYOUT.content_hashes,
    script:
        "../scripts/dataset.py"


rule detect_align:
    input:
        table=rules.dataset.output.table,
    output:
        manifest=LAYOUT.manifest,
        summary=report(
            LAYOUT.face_status,
            caption="../report/face_status.rst",
            category="2. Faces",
        ),
        crops=directory(LAYOUT.crops),
    log:
        LAYOUT.log("faces"),
    benchmark:
        LAYOUT.benchmark("faces")
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        faces=config["faces"],
        device=config["device"],
        cache=LAYOUT.face_cache,
    script:
        "../scripts/faces.py"


rule faces:
    input:
        rules.detect_align.output.manifest,


# The usable faces decoded once at a network's input size into one array that training and evaluation jobs
# memory-map instead of decoding every crop; the manifest's sha1 beside it lets a job refuse a stale cache.
rule face_pixels:
    input:
        manifest=rules.detect_align.output.manifest,
    output:
        pixels=LAYOUT.pixels("{size}"),
        record=LAYOUT.pixels_record("{size}"),
    log:
        LAYOUT.log("face_pixels_{size}"),
    benchmark:
        LAYOUT.benchmark("face_pixels_{size}")
    wildcard_constraints:
        size=r"\d+",
    conda:
        "../../envs/base.yaml"
    resources:
        mem_mb=2000,
    script:
        "../scripts/face_pixels.py"


# Runs that ask for manual labels wait for this check, so a dataset without them stops early and clearly.
rule check_manual_labels:
    input:
        table=rules.dataset.output.table,
    output:
        flag=LAYOUT.manual_labels_check,
    log:
        LAYOUT.log("check_manual_labels"),
    conda:
        "../../envs/base.yaml"
    script:
        "../scripts/check_manual_labels.py"
