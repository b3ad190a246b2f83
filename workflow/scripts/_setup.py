"""Make the emoverify package importable from the rule scripts, installed or not, and tie the job's life to the
Snakemake that started it (emoverify/lifeline.py says why).

Only the scripts need the path: under --use-conda they run in a rule's conda environment, which holds the
dependencies but not this checkout's package; the Snakefile itself runs where the package is installed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emoverify.lifeline import die_with_snakemake  # noqa: E402

die_with_snakemake()
