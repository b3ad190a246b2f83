import sys

import _setup  # noqa: F401
import pandas as pd

from emoverify.faces.pixels import manifest_digest
from emoverify.features import chips as chip_store
from emoverify.features.dlib_descriptor import DlibDescriptor, extract_features_and_chips
from emoverify.features.store import save_features
from emoverify.progress import Progress
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    digest = manifest_digest(snakemake.input.manifest)  # before reading: the record names the bytes described
    manifest = pd.read_csv(snakemake.input.manifest, keep_default_na=False)
    usable = int((manifest["status"] == "ok").sum())
    progress = Progress("dlib descriptors and chips", (console, sys.stdout), unit="faces")
    features, cut = extract_features_and_chips(
        manifest, model=DlibDescriptor.load(), workers=snakemake.threads, progress=progress.counting(usable)
    )
    chips = chip_store.chips_of_manifest(manifest, features.image_ids, cut, digest)
    save_features(snakemake.output.features, features)
    chip_store.save_chips(snakemake.output.chips, chips)
    announce(
        console,
        f"dlib: {len(features)} faces embedded in {features.seconds:.1f} s, {features.images_per_second:.1f} "
        f"images/s; {chip_store.describe(chips, snakemake.output.chips)}",
    )
