import _setup  # noqa: F401
import pandas as pd

from emoverify import provenance
from emoverify.scriptlog import announce, logged
from emoverify.splits import development_record, folds

with logged(snakemake.log[0]) as console:
    manifest = pd.read_csv(snakemake.input.manifest, keep_default_na=False)
    p = snakemake.params
    assignments = folds.make_repeated_folds(
        manifest,
        n_folds=p.n_folds,
        repeats=p.repeats,
        seed=p.seed,
        val_fraction=p.val_fraction,
        development_fraction=p.development_fraction,
        development_seed=p.development_seed,
        partition=p.partition,
        development_partition=p.development_partition,
    )
    development_record.check_recorded(
        folds.development_identities(
            manifest, fraction=p.development_fraction, seed=p.development_seed, draw=p.development_partition
        ),
        p.recipe_record,
        {
            "development_partition": p.development_partition,
            "development_fraction": p.development_fraction,
            "development_seed": p.development_seed,
        },
    )
    summary = folds.split_summary(assignments)
    print(summary.to_string(index=False))
    assignments.to_csv(snakemake.output.folds, index=False)
    provenance.carry(snakemake.input.manifest, snakemake.output.folds)
    summary.to_csv(snakemake.output.summary, index=False)
    announce(console, folds.summary_line(summary, snakemake.output.summary))
