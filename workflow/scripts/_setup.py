"""Make the emoverify package importable from the rule scripts, installed or not (e.g. under --use-conda), and
tie the job's life to the Snakemake that started it (emoverify/lifeline.py says why)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emoverify.lifeline import die_with_snakemake  # noqa: E402

die_with_snakemake()
