import _setup  # noqa: F401
import pandas as pd
from tqdm import tqdm

from emoverify.features import dlib_descriptor
from emoverify.scriptlog import logged

with logged(snakemake.log[0]) as console:
    manifest = pd.read_csv(snakemake.input.manifest, keep_default_na=False)
    usable = int((manifest["status"] == "ok").sum())
    model = dlib_descriptor.DlibDescriptor.load()  # the one extractor (registry.FEATURE_EXTRACTORS)
    with tqdm(total=usable, desc="dlib descriptors", unit="face", file=console) as bar:
        features = dlib_descriptor.extract_features(
            manifest, model=model, workers=snakemake.threads, progress=bar.update
        )
    dlib_descriptor.save_features(snakemake.output.features, features)
    count = (
        f"dlib: {len(features)} faces embedded ({len(manifest) - usable} of {len(manifest)} images without a usable "
        f"face skipped) in {features.seconds:.1f} s, {features.images_per_second:.1f} images/s on "
        f"{snakemake.threads} process(es); chip {features.chip}, models {', '.join(features.models)}"
    )
    print(count)
    print(count, file=console, flush=True)
