import sys

import _setup  # noqa: F401

from emoverify.features.chips import load_chips
from emoverify.features.dlib_activations import cache_from_files, save_activations
from emoverify.model.device import use_threads
from emoverify.progress import Progress
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    use_threads(snakemake.threads)
    level = snakemake.wildcards.level
    faces = len(load_chips(snakemake.input.chips))
    progress = Progress(f"dlib {level} activations", (console, sys.stdout), unit="faces")
    cache = cache_from_files(snakemake.input.chips, level, snakemake.input.weights, progress=progress.counting(faces))
    save_activations(snakemake.output.activations, cache)
    announce(
        console,
        f"dlib_resnet {level}: activations {cache.activations.shape[1:]} of {len(cache)} chips and their mirror "
        f"images in {cache.seconds:.1f} s ({cache.weights}) into {snakemake.output.activations}",
    )
