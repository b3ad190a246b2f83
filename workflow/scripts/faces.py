import sys

import _setup  # noqa: F401
import pandas as pd

from emoverify import provenance
from emoverify.faces import detect
from emoverify.model.device import resolve_device
from emoverify.progress import Progress
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    table = pd.read_csv(snakemake.input.table, keep_default_na=False, dtype=str)
    manifest = detect.prepare_faces(
        table,
        snakemake.output.crops,
        detect.FaceSettings.from_config(snakemake.params.faces),
        cache_dir=snakemake.params.cache,
        device=str(resolve_device(snakemake.params.device)),
        progress=Progress("faces", (console, sys.stdout)),
    )
    for note in manifest.attrs["notes"]:
        announce(console, f"faces note: {note}")
    summary = detect.status_summary(manifest)
    print(summary.to_string(index=False))
    manifest.to_csv(snakemake.output.manifest, index=False)
    provenance.record(snakemake.output.manifest, provenance.table_sha1(snakemake.input.table))
    summary.to_csv(snakemake.output.summary, index=False)
    announce(console, detect.summary_line(manifest, snakemake.output.summary))
    detect.require_usable(manifest)
