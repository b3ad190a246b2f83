from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config():
    """The default config with its schema defaults and tuning on."""
    loaded = yaml.safe_load((ROOT / "config.yaml").read_text())
    loaded["tuning"] = {"enabled": True}
    validate(loaded, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return loaded
