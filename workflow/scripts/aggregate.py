import _setup  # noqa: F401
import pandas as pd

from emoverify.report import build as results
from emoverify.report import verdict
from emoverify.scriptlog import announce, logged
from emoverify.splits.folds import held_out_share

with logged(snakemake.log[0]) as console:
    p = snakemake.params
    runs = results.build_results(
        metrics_paths=snakemake.input.metrics,
        embedding_paths=snakemake.input.embeddings,
        history_paths=snakemake.input.histories,
        selection_paths=snakemake.input.selections,
        outputs=dict(snakemake.output.items()),
        baselines=p.baselines,
        run_methods=p.run_methods,
        references=p.references,
        pca_methods=p.pca_methods,
        pca_max_identities=p.pca_max_identities,
        exclude_same_session=p.exclude_same_session,
        dataset=verdict.dataset_name(p.dataset, p.data_root),
        test_share=held_out_share(pd.read_csv(snakemake.input.folds, keep_default_na=False)),
    )
    announce(console, results.summary_line(runs, snakemake.output.summary_md))
