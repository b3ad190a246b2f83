import json

import _setup  # noqa: F401
import pandas as pd

from emoverify.scriptlog import announce, logged
from emoverify.tuning import select

with logged(snakemake.log[0]) as console:
    p, w = snakemake.params, snakemake.wildcards
    candidates = [(name, settings, list(snakemake.input[name])) for name, settings in p.settings["candidates"]]
    record = select.select(
        candidates,
        figure=p.settings["figure"],
        folds=pd.read_csv(snakemake.input.folds, keep_default_na=False),
        repeat=int(w.repeat),
        fold=int(w.fold),
        default_name=p.settings["default"],
        min_validation_identities=p.settings["min_validation_identities"],
        fallback=(*p.settings["fallback"], list(snakemake.input[p.settings["fallback"][0]]))
        if "fallback" in p.settings
        else None,
    )
    unit = {"method": w.method, "labels": w.label_source, "repeat": int(w.repeat), "fold": int(w.fold)}
    with open(snakemake.output.selection, "w") as stream:
        json.dump({**unit, **record}, stream, indent=2)
    where = f"{w.method}/{w.label_source}/repeat{w.repeat}/fold{w.fold}"
    announce(console, f"selection {where}: {record['winner']} ({record['reason']})")
