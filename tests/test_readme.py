"""Every documented snakemake command can run as written: targets come before --configfile and --config,
which take every word after them (a target after them is read as a config file or a config key)."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
DOCUMENTS += sorted((ROOT / "workflow" / "presets").rglob("*.yaml"))
DOCUMENTS += sorted((ROOT / "workflow" / "profiles").glob("*/*.yaml"))


def commands(text: str) -> list[str]:
    """snakemake command lines (in code spans, code blocks or comments), backslash continuations joined."""
    text = re.sub(r"\\\n#?\s*", " ", text)
    found = []
    for line in text.splitlines():
        for match in re.finditer(r"(?:^|`|#\s*)(snakemake [^`\n]*)", line):
            found.append(match.group(1).split("#")[0].strip())
    return found


def misplaced_words(command: str) -> list[str]:
    """Words that --configfile or --config would swallow although they are not a config file or key=value."""
    # a placeholder such as <your config> stands for one word, like "..."
    words, wrong, taking = shlex.split(re.sub(r"<[^<>]*>", "...", command)), [], None
    for word in words[1:]:
        if word.startswith("-"):
            taking = word if word in ("--configfile", "--configfiles", "--config", "-C") else None
        elif taking in ("--configfile", "--configfiles") and not word.endswith((".yaml", ".yml", ".json", "...")):
            wrong.append(word)
        elif taking in ("--config", "-C") and "=" not in word and word != "...":
            wrong.append(word)
    return wrong


def test_the_rule_catches_a_target_after_config():
    assert misplaced_words("snakemake --cores all --configfile p.yaml --config data_root=x faces") == ["faces"]
    assert misplaced_words("snakemake --cores all --configfile p.yaml faces --config data_root=x") == ["faces"]
    assert misplaced_words("snakemake faces --cores all --configfile p.yaml --config data_root=x") == []
    assert misplaced_words("snakemake --cores all --configfile <your config> --unlock") == []
    assert misplaced_words("snakemake --configfile <your config> faces") == ["faces"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_documented_commands_put_targets_first(document):
    found = commands(document.read_text())
    assert all(not misplaced_words(command) for command in found), [c for c in found if misplaced_words(c)]
    if document == ROOT / "README.md":
        # the entry page shows a stage target in its place, before --configfile and --config
        assert any(re.match(r"snakemake faces .*--config ", command) for command in found), found
