import _setup  # noqa: F401
import pandas as pd

from emoverify import provenance
from emoverify.report import build
from emoverify.report.settings import ReportSettings
from emoverify.scriptlog import announce, logged
from emoverify.splits.folds import held_out_share

with logged(snakemake.log[0]) as console:
    # the tables are built from the current dataset only (a stage left stale by a failed run stops here)
    inputs = snakemake.input
    provenance.require_current(inputs.table, {"faces": inputs.manifest, "splits": inputs.folds})
    test_share = held_out_share(pd.read_csv(snakemake.input.folds, keep_default_na=False))
    settings = ReportSettings.from_params(dict(snakemake.params.items()), test_share=test_share)
    runs = build.build_results(
        settings,
        metrics_paths=snakemake.input.metrics,
        embedding_paths=snakemake.input.embeddings,
        history_paths=snakemake.input.histories,
        selection_paths=snakemake.input.selections,
        outputs=dict(snakemake.output.items()),
    )
    announce(console, build.summary_line(runs, snakemake.output.summary_md))
    provenance.carry(inputs.folds, snakemake.output.summary)
