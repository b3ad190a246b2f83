import sys

import _setup  # noqa: F401

from emoverify.faces.pixels import build_pixel_cache
from emoverify.progress import Progress
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    size = int(snakemake.wildcards.size)
    record = build_pixel_cache(
        snakemake.input.manifest,
        size,
        snakemake.output.pixels,
        snakemake.output.record,
        progress=Progress(f"pixels at {size} px", (console, sys.stdout)),
    )
    announce(
        console,
        f"pixel cache: {record['rows']} faces at {size} px decoded in {record['seconds']:.1f} s into "
        f"{snakemake.output.pixels} (manifest sha1 {record['manifest_sha1'][:12]})",
    )
