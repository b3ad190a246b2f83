import sys

import _setup  # noqa: F401
import pandas as pd

from emoverify.faces import detect as faces
from emoverify.model.device import resolve_device
from emoverify.progress import Progress
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    settings = snakemake.params.faces
    table = pd.read_csv(snakemake.input.table, keep_default_na=False, dtype=str)
    manifest = faces.prepare_faces(
        table,
        snakemake.output.crops,
        detector=settings["detector"],
        size=settings["size"],
        margin=settings["margin"],
        min_probability=settings["min_probability"],
        batch_size=settings["batch_size"],
        multiple=settings["multiple"],
        cache_dir=snakemake.params.cache,
        device=str(resolve_device(snakemake.params.device)),
        progress=Progress("faces", (console, sys.stdout)),
    )
    summary = faces.status_summary(manifest)
    print(summary.to_string(index=False))
    manifest.to_csv(snakemake.output.manifest, index=False)
    summary.to_csv(snakemake.output.summary, index=False)
    announce(console, faces.summary_line(manifest, snakemake.output.summary))
    faces.require_usable(manifest)
