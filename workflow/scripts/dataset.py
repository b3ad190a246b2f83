import _setup  # noqa: F401

from emoverify.data import adapters as datasets
from emoverify.scriptlog import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    root = snakemake.input.demo if p.adapter == "demo" else p.root
    table = datasets.load_dataset(
        p.adapter,
        root,
        expression_map=p.expression_map,
        ckplus_last_frames=p.ckplus_last_frames,
        csv_path_column=p.csv_columns["path"],
        csv_identity_column=p.csv_columns["identity"],
        csv_emotion_column=p.csv_columns["emotion"],
    )
    table.to_csv(snakemake.output.table, index=False)
    print(f"{len(table)} images of {table['identity'].nunique()} identities from {root}")
