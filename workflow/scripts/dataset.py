import _setup  # noqa: F401

from emoverify.data import snapshot
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    p = snakemake.params
    root = snakemake.input.demo if p.adapter == "demo" else p.root
    options = {
        "dataset": p.adapter,
        "expression_map": p.expression_map,
        "ckplus_last_frames": p.ckplus_last_frames,
        "csv_columns": p.csv_columns,
        # read from the config, not a param: the key only lets a study run that would stop, so it reruns nothing
        "identities_case_sensitive": snakemake.config["identities_case_sensitive"],
    }
    table = snapshot.read_table(options, root, p.hash_cache)
    table.to_csv(snakemake.output.table, index=False)
    for note in table.attrs["notes"]:
        announce(console, f"dataset note: {note}")
    labelled = int((table["emotion_manual"] != "").sum())
    announce(
        console,
        f"dataset: {len(table):,} images of {table['identity'].nunique():,} identities, {labelled:,} with a manual "
        f"expression, from {root}; see {snakemake.output.table}",
    )
