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
        extractor=registry.wildcard_pattern(PLAIN_EXTRACTORS),
    conda:
        "../../envs/features.yaml"
    threads: 2
    resources:
        mem_mb=2000,
    script:
        "../scripts/extract_features.py"


if FINETUNE_LEVEL:

    # dlib's descriptors and the 150 px chips they describe, cut once: a dlib_resnet backbone's input
    rule extract_dlib_features_and_chips:
        input:
            manifest=rules.detect_align.output.manifest,
        output:
            features=LAYOUT.features("{extractor}"),
            chips=LAYOUT.chips("{extractor}"),
        log:
            LAYOUT.log("features_{extractor}"),
        benchmark:
            LAYOUT.benchmark("features_{extractor}")
        wildcard_constraints:
            extractor="dlib",
        conda:
            "../../envs/features.yaml"
        threads: 2
        resources:
            mem_mb=3000,
        script:
            "../scripts/extract_dlib_chips.py"

    # the frozen levels' output for every chip and its mirror image, once per experiment, chips, weights and
    # level (features/dlib_resnet_<level>.npz): what the runs of a level below `all` train and are scored on
    rule dlib_activations:
        input:
            chips=LAYOUT.chips("dlib"),
            weights=DLIB_WEIGHTS,
        output:
            activations=LAYOUT.dlib_activations("{level}"),
        log:
            LAYOUT.log("dlib_activations_{level}"),
        benchmark:
            LAYOUT.benchmark("dlib_activations_{level}")
        wildcard_constraints:
            level=registry.wildcard_pattern(registry.FINETUNE_LEVELS[:-1]),
        conda:
            "../../envs/torch.yaml"
        threads: config["training"]["threads"]
        resources:
            mem_mb=4000,
        script:
            "../scripts/dlib_activations.py"


rule features:
    input:
        [LAYOUT.features(name) for name in study.feature_extractors(config)],
        [path for name, path in dlib_inputs().items() if name != "dlib_weights"],
