import _setup  # noqa: F401

from emoverify.data import demo
from emoverify.scriptlog import logged

with logged(snakemake.log[0]):
    table = demo.generate_demo(snakemake.output.folder, **snakemake.params.demo)
    print(f"generated {len(table)} demo images of {table['identity'].nunique()} identities")
