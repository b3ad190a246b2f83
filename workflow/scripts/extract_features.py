import sys

import _setup  # noqa: F401
import pandas as pd

from emoverify.features.extractors import extract
from emoverify.features.store import save_features
from emoverify.progress import Progress
from emoverify.scriptlog import logged

with logged(snakemake.log[0]) as console:
    extractor = snakemake.wildcards.extractor
    manifest = pd.read_csv(snakemake.input.manifest, keep_default_na=False)
    usable = int((manifest["status"] == "ok").sum())
    progress = Progress(f"{extractor} descriptors", (console, sys.stdout), unit="faces")
    features = extract(manifest, extractor, workers=snakemake.threads, progress=progress.counting(usable))
    save_features(snakemake.output.features, features)
    count = (
        f"{extractor}: {len(features)} faces embedded ({len(manifest) - usable} of {len(manifest)} images without a "
        f"usable face skipped) in {features.seconds:.1f} s, {features.images_per_second:.1f} images/s; chip "
        f"{features.chip} ({features.chip_size} px), models {', '.join(features.models)}"
    )
    print(count)
    print(count, file=console, flush=True)
