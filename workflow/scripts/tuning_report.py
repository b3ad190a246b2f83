import _setup  # noqa: F401
import pandas as pd

from emoverify.report import runs_table, sensitivity
from emoverify.scriptlog import announce, logged
from emoverify.splits.folds import held_out_share
from emoverify.tuning import winners

with logged(snakemake.log[0]) as console:
    p = snakemake.params
    selections = winners.read_selections(snakemake.input.selections)
    runs = runs_table.collect_runs(snakemake.input.metrics)
    figure = selections[0]["figure"]
    table = sensitivity.candidates_table(runs, selections, figure)
    table.to_csv(snakemake.output.candidates, index=False)
    sensitivity.sensitivity_figure(
        table,
        winners.winning_runs(runs, selections),
        p.baselines,
        figure,
        snakemake.output.figure,
        test_share=held_out_share(pd.read_csv(snakemake.input.folds, keep_default_na=False)),
    )
    fallback = sum(not s["tuned"] for s in selections)
    note = f"; {fallback} fell back to the configured setting (too few validation people)" if fallback else ""
    announce(console, f"tuning: {len(selections)} selections from {len(table)} candidate units{note}")
