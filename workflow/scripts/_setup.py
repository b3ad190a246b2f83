"""Make the emoverify package importable from the rule scripts, installed or not.

Only the scripts need this: under --use-conda they run in a rule's conda environment, which holds the
dependencies but not this checkout's package; the Snakefile itself runs where the package is installed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
