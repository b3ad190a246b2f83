import _setup  # noqa: F401
import pandas as pd

from emoverify.labels import sources
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    table = pd.read_csv(snakemake.input.table, keep_default_na=False)
    manual = sources.resolve_expressions(table, None, "manual")
    counts = manual[manual != ""].value_counts()
    print(counts.to_string())
    line = f"{int((manual != '').sum()):,} of {len(manual):,} images have a manual expression label"
    with open(snakemake.output.flag, "w") as handle:
        handle.write(line + "\n")
    announce(console, f"manual labels: {line}")
