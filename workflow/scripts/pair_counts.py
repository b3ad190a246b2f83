import _setup  # noqa: F401

from emoverify import atomic
from emoverify.scriptlog import announce, logged
from emoverify.training import pair_counts

with logged(snakemake.log[0]) as console:
    files = {}
    for (labels, repeat, fold), path in zip(snakemake.params.units, snakemake.input.labels, strict=True):
        files.setdefault((labels, int(repeat), int(fold)), []).append(path)
    table = pair_counts.pair_counts_table(files)
    atomic.write_text(snakemake.output.table, table.to_csv(index=False))
    print(table.to_string(index=False))
    flagged = table[table["single_session"]]
    for row in flagged.drop_duplicates(["labels", "loss"]).itertuples():
        print(f"{row.loss} ({row.labels} labels): every same-person pair falls within one recording session")
    announce(console, f"pair counts: {len(files)} label-source x fold units; see {snakemake.output.table}")
