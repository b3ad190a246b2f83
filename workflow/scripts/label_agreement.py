import json

import _setup  # noqa: F401
import pandas as pd

from emoverify.labels import agreement, sources
from emoverify.scriptlog import logged
from emoverify.splits.folds import outside_development

with logged(snakemake.log[0]):
    manifest = pd.read_csv(snakemake.input.manifest, keep_default_na=False)
    detected = pd.read_csv(snakemake.input.detected, keep_default_na=False)
    detected = sources.apply_threshold(detected, snakemake.params.confidence_threshold)
    # the development people are in no table (their labels serve choices made above the fold)
    p = snakemake.params
    usable = outside_development(
        manifest[manifest["status"] == "ok"],
        fraction=p.development_fraction,
        seed=p.development_seed,
        draw=p.development_partition,
    )
    metrics, confusion = agreement.label_agreement(sources.manual_expressions(usable), detected)
    metrics["confidence_threshold"] = snakemake.params.confidence_threshold
    print(json.dumps(metrics, indent=2))
    with open(snakemake.output.metrics, "w") as handle:
        json.dump(metrics, handle, indent=2)
    flat = {key: (", ".join(value) if isinstance(value, list) else value) for key, value in metrics.items()}
    pd.DataFrame([flat]).to_csv(snakemake.output.table, index=False)
    confusion.to_csv(snakemake.output.confusion)
    agreement.plot_confusion(confusion, snakemake.output.figure, title="fer (detected) vs manual expression labels")
