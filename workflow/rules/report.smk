rule aggregate:
    input:
        metrics=run_files("metrics.json") + reference_files("metrics.json"),
        embeddings=run_files("embeddings.npz") + reference_files("embeddings.npz"),
        histories=run_files("history.csv"),
        face_status=rules.detect_align.output.summary,
        table=rules.dataset.output.table,  # with the manifest: which table each stage was built from
        manifest=rules.detect_align.output.manifest,
        agreement=rules.label_agreement.output.table,
        folds=rules.make_splits.output.folds,
        selections=selection_files(),
    output:
        runs=LAYOUT.table_file("runs.csv"),
        summary=report(LAYOUT.table_file("summary.csv"), caption="../report/summary.rst", category="4. Results"),
        summary_md=LAYOUT.table_file("summary.md"),
        significance=report(
            LAYOUT.table_file("significance.csv"), caption="../report/significance.rst", category="4. Results"
        ),
        label_comparison=report(
            LAYOUT.table_file("label_source_comparison.csv"),
            caption="../report/label_source_comparison.rst",
            category="4. Results",
        ),
        pca=report(LAYOUT.figure("pca.png"), caption="../report/pca.rst", category="5. Figures"),
        roc=report(LAYOUT.figure("roc.png"), caption="../report/roc.rst", category="5. Figures"),
        auc=report(LAYOUT.figure("auc_per_run.png"), caption="../report/auc_per_run.rst", category="5. Figures"),
        curves=report(
            LAYOUT.figure("training_curves.png"), caption="../report/training_curves.rst", category="5. Figures"
        ),
        verdict=report(LAYOUT.table_file("verdict.csv"), caption="../report/verdict.rst", category="1. Verdict"),
        # the report's first page includes it (workflow/report/workflow.rst)
        verdict_rst=LAYOUT.table_file("verdict.rst"),
        power=report(LAYOUT.figure("power.png"), caption="../report/power.rst", category="1. Verdict"),
        power_table=LAYOUT.table_file("power.csv"),
        training_effect=report(
            LAYOUT.table_file("training_effect.csv"),
            caption="../report/training_effect.rst",
            category="1. Verdict",
        ),
    log:
        LAYOUT.log("aggregate"),
    conda:
        "../../envs/base.yaml"
    params:
        baselines={m: study.baseline_of(m, config) for m in study.compared_methods(config)},
        run_methods=study.compared_methods(config),
        references=config["references"],
        starts={m: study.starting_point(m, config) for m in study.compared_methods(config)},
        pca_methods=config["figures"]["pca_methods"],
        pca_max_identities=config["figures"]["pca_max_identities"],
        exclude_same_session=config["evaluation"]["exclude_same_session"],
        dataset=config["dataset"],
        data_root=shown.shown_root(config["data_root"]),  # a plain name: params go raw into the HTML report
    script:
        "../scripts/aggregate.py"


# The manipulation check: each expression term on the test people with the true labels, method minus its
# matched baseline, read against the verdict (emoverify.report.manipulation).
rule manipulation:
    input:
        manipulation=run_files("manipulation.json"),
        significance=rules.aggregate.output.significance,
        verdict=rules.aggregate.output.verdict,
        folds=rules.make_splits.output.folds,
        selections=selection_files(),
    output:
        table=report(LAYOUT.table_file("manipulation.csv"), caption="../report/manipulation.rst", category="1. Verdict"),
        rst=LAYOUT.table_file("manipulation.rst"),
    log:
        LAYOUT.log("manipulation"),
    conda:
        "../../envs/base.yaml"
    params:
        baselines={m: study.baseline_of(m, config) for m in study.compared_methods(config)},
        terms={m: study.expression_terms(config, m) for m in study.compared_methods(config)},
    script:
        "../scripts/manipulation_table.py"


# The side-by-side table of this experiment and the finished ones named in compare_with (other regimes).
rule compare_regimes:
    input:
        summaries=[Layout(name).table_file("summary.csv") for name in REGIME_EXPERIMENTS],
        folds=[Layout(name).folds for name in REGIME_EXPERIMENTS],
    output:
        table=report(LAYOUT.table_file("regimes.csv"), caption="../report/regimes.rst", category="4. Results"),
        markdown=LAYOUT.table_file("regimes.md"),
    log:
        LAYOUT.log("compare_regimes"),
    conda:
        "../../envs/base.yaml"
    params:
        experiments=REGIME_EXPERIMENTS,
    script:
        "../scripts/compare_regimes.py"


# Pairs per expression loss per label source and fold unit, from the training labels the runs wrote.
rule pair_counts:
    input:
        labels=[LAYOUT.run_file(run, "training_labels.csv") for run in LABELLED_RUNS],
    output:
        table=LAYOUT.table_file("pair_counts.csv"),
    log:
        LAYOUT.log("pair_counts"),
    conda:
        "../../envs/base.yaml"
    params:
        units=[[run.label_source, run.repeat, run.fold] for run in LABELLED_RUNS],
    script:
        "../scripts/pair_counts.py"


rule report:
    input:
        rules.aggregate.output,
        rules.manipulation.output,
        rules.pair_counts.output,
        rules.label_agreement.output,
        rules.compare_regimes.output if config["compare_with"] else [],
        rules.tuning_report.output if SELECTIONS else [],
