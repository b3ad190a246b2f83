rule aggregate:
    conda:
        "../../envs/base.yaml"
    input:
        metrics=run_files("metrics.json") + reference_files("metrics.json"),
        embeddings=run_files("embeddings.npz") + reference_files("embeddings.npz"),
        histories=run_files("history.csv"),
        face_status=rules.detect_align.output.summary,
        agreement=rules.label_agreement.output.table,
    output:
        runs=f"{OUT}/tables/runs.csv",
        summary=report(f"{OUT}/tables/summary.csv", caption="../report/summary.rst", category="3. Results"),
        summary_md=f"{OUT}/tables/summary.md",
        significance=report(
            f"{OUT}/tables/significance.csv", caption="../report/significance.rst", category="3. Results"
        ),
        label_comparison=report(
            f"{OUT}/tables/label_source_comparison.csv",
            caption="../report/label_source_comparison.rst",
            category="3. Results",
        ),
        pca=report(f"{OUT}/figures/pca.png", caption="../report/pca.rst", category="4. Figures"),
        roc=report(f"{OUT}/figures/roc.png", caption="../report/roc.rst", category="4. Figures"),
        auc=report(f"{OUT}/figures/auc_per_run.png", caption="../report/auc_per_run.rst", category="4. Figures"),
        curves=report(
            f"{OUT}/figures/training_curves.png", caption="../report/training_curves.rst", category="4. Figures"
        ),
    params:
        baselines={m: study.baseline_of(m, config) for m in config["run_methods"]},
        run_methods=config["run_methods"],
        references=config["references"],
        pca_methods=config["evaluation"]["pca_method_pairs"],
        pca_max_identities=config["figures"]["pca_max_identities"],
        exclude_same_session=config["evaluation"]["exclude_same_session"],
    log:
        f"{OUT}/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


rule report:
    input:
        rules.aggregate.output,
        rules.label_agreement.output,
