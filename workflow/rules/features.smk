# Every usable face embedded once per experiment by a pretrained recognizer (dlib: bundled weights, CPU).
rule extract_features:
    input:
        manifest=rules.detect_align.output.manifest,
    output:
        features=LAYOUT.features("{extractor}"),
    log:
        LAYOUT.log("features_{extractor}"),
    benchmark:
        LAYOUT.benchmark("features_{extractor}")
    wildcard_constraints:
        extractor=registry.wildcard_pattern(registry.FEATURE_EXTRACTORS),
    conda:
        "../../envs/features.yaml"
    threads: 2
    resources:
        mem_mb=2000,
    script:
        "../scripts/extract_features.py"


rule features:
    input:
        [LAYOUT.features(name) for name in study.feature_extractors(config)],
