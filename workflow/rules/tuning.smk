# Tuning: one candidate per (method, label source, repeat, fold), chosen from the candidates' validation figures
# (their history.csv) alone; no test metric is an input of this rule.
rule select_candidate:
    input:
        unpack(candidate_histories),
        folds=rules.make_splits.output.folds,
    output:
        selection=LAYOUT.selection(),
    log:
        LAYOUT.log("select/{method}_{label_source}_repeat{repeat}_fold{fold}"),
    conda:
        "../../envs/base.yaml"
    params:
        settings=lambda wildcards: study.selection_settings(config, wildcards.method),
    script:
        "../scripts/select_candidate.py"


# Every candidate's validation and test figures, and the sensitivity figure (weights against figures).
rule tuning_report:
    input:
        metrics=run_files("metrics.json"),
        selections=selection_files(),
        folds=rules.make_splits.output.folds,
    output:
        candidates=report(
            LAYOUT.table_file("candidates.csv"), caption="../report/candidates.rst", category="4. Results"
        ),
        figure=report(LAYOUT.figure("sensitivity.png"), caption="../report/sensitivity.rst", category="5. Figures"),
    log:
        LAYOUT.log("tuning_report"),
    conda:
        "../../envs/base.yaml"
    params:
        baselines={m: study.baseline_of(m, config) for m in study.compared_methods(config)},
    script:
        "../scripts/tuning_report.py"


# Every selection of a tuned study, without any evaluation: what the grid choice on development people reads.
rule selections:
    input:
        selection_files(),
