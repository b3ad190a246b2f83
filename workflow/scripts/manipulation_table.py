import _setup  # noqa: F401
import pandas as pd

from emoverify.report import manipulation, verdict
from emoverify.scriptlog import logged
from emoverify.splits.folds import held_out_share

with logged(snakemake.log[0]):
    p, out = snakemake.params, snakemake.output
    significance = pd.read_csv(snakemake.input.significance)
    table = manipulation.manipulation_table(
        manipulation.collect(snakemake.input.manipulation, snakemake.input.selections),
        p.baselines,
        p.terms,
        pd.read_csv(snakemake.input.verdict),
        held_out_share(pd.read_csv(snakemake.input.folds, keep_default_na=False)),
        verdict.lead_metric(significance),
    )
    manipulation.write(table, out.table, out.rst)
    print(f"manipulation check: {len(table)} rows in {out.table}")
