"""Make the emoverify package importable from the rule scripts, installed or not (e.g. under --use-conda)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
