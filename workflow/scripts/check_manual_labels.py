import _setup  # noqa: F401
import pandas as pd

from emoverify.labels import sources as labels
from emoverify.scriptlog import logged

with logged(snakemake.log[0]):
    table = pd.read_csv(snakemake.input.table, keep_default_na=False)
    manual = labels.resolve_expressions(table, None, "manual")
    counts = manual[manual != ""].value_counts()
    print(counts.to_string())
    with open(snakemake.output.flag, "w") as handle:
        handle.write(f"{int((manual != '').sum())} of {len(manual)} images have a manual expression label\n")
