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


# The grid on development people, point by point (docs/tuning.md): each candidate's verification and
# manipulation check on its inner fold's held-out people, and every grid point against its matched baseline.
rule grid_check_run:
    input:
        unpack(evaluate_label_inputs),
        unpack(run_inputs),
        model=LAYOUT.run_pattern("model.pt"),
        manifest=rules.detect_align.output.manifest,
        folds=rules.make_splits.output.folds,
    output:
        check=LAYOUT.run_pattern("grid_check.json"),
    log:
        LAYOUT.run_log("grid_check"),
    conda:
        "../../envs/torch.yaml"
    threads: config["training"]["threads"]
    resources:
        gpu=1,
        gpu_slots=1,
        mem_mb=4000,
    params:
        label_params=label_params,
        truth=study.true_label_params(config),
        device=config["device"],
    script:
        "../scripts/grid_check.py"


rule grid_points:
    input:
        checks=run_files("grid_check.json"),
        folds=rules.make_splits.output.folds,
    output:
        table=LAYOUT.table_file("grid_points.csv"),
    log:
        LAYOUT.log("grid_points"),
    conda:
        "../../envs/base.yaml"
    params:
        pairs=lambda wildcards: study.grid_point_baselines(config),
        terms=lambda wildcards: {
            name: study.expression_terms(config, name) for name in study.grid_point_baselines(config)
        },
    script:
        "../scripts/grid_points.py"


# Every grid point's verification and manipulation check on the development people's inner folds.
rule grid_checks:
    input:
        rules.grid_points.output.table,
