# fer brings tensorflow; this rule runs in its own process, and torch is imported first
# (tensorflow before torchvision segfaults where triton is installed).
import sys

import _setup  # noqa: F401
import pandas as pd
import torch  # noqa: F401  (import order matters, see above)

from emoverify.labels import classifier
from emoverify.progress import Progress
from emoverify.scriptlog import announce, logged

with logged(snakemake.log[0]) as console:
    manifest = pd.read_csv(snakemake.input.manifest, keep_default_na=False)
    detected = classifier.detect_expressions(manifest, progress=Progress("labels", (console, sys.stdout)))
    detected.to_csv(snakemake.output.detected, index=False)
    classified = int((detected["emotion_detected"] != "").sum())
    announce(
        console, f"labels: fer classified {classified:,} of {len(detected):,} faces; see {snakemake.output.detected}"
    )
