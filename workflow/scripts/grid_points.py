import _setup  # noqa: F401
import pandas as pd

from emoverify import atomic
from emoverify.report import grid_points, runs_table
from emoverify.scriptlog import announce, logged
from emoverify.tuning import grid_check

with logged(snakemake.log[0]) as console:
    p = snakemake.params
    runs = runs_table.collect_runs(snakemake.input.checks)
    folds = pd.read_csv(snakemake.input.folds, keep_default_na=False)
    table = grid_points.grid_point_table(runs, p.pairs, p.terms, grid_check.held_out_share(folds))
    atomic.write_text(snakemake.output.table, table.to_csv(index=False))
    missing = int((runs["status"] != "ok").sum())
    note = f"; {missing} runs missing (their reasons in runs' grid_check.json)" if missing else ""
    announce(console, f"grid points: {table['point'].nunique()} points, {len(table)} rows{note}")
