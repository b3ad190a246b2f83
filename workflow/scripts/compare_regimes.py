import _setup  # noqa: F401
import pandas as pd

from emoverify.report import regimes
from emoverify.scriptlog import logged

with logged(snakemake.log[0]):
    names = snakemake.params.experiments
    folds = {name: pd.read_csv(path, keep_default_na=False) for name, path in zip(names, snakemake.input.folds)}
    problem = regimes.fold_difference(folds)
    if problem:
        raise regimes.RegimesError(f"{problem}: compare_with needs the same dataset, folds, repeats and split seed")
    summaries = {name: pd.read_csv(path) for name, path in zip(names, snakemake.input.summaries)}
    table = regimes.side_by_side(summaries)
    table.to_csv(snakemake.output.table, index=False)
    with open(snakemake.output.markdown, "w") as handle:
        handle.write(regimes.regimes_markdown(table) + "\n")
    print(f"regimes: {len(table)} rows from {', '.join(names)}")
