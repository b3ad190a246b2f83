"""The documentation: README as a short entry page, one page per topic under docs/, and one owner per number.

A measured figure is quoted as a link to its file, ``[2 h 22 min](measurements/ckplus48_tuned.json#wall_s)``
(docs/measurements/README.md defines the file); the tests read every quote back and compare it with the file,
so a figure re-measured without its quotes, or a duration quoted with no file, fails here.
"""

import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MEASUREMENTS = DOCS / "measurements"
README = ROOT / "README.md"
# docs/studies/ holds committed study outputs (tables, configs), not pages
PAGES = [README, *sorted(p for p in DOCS.rglob("*.md") if "studies" not in p.relative_to(DOCS).parts)]
TOPIC_PAGES = [
    "configuration.md",
    "protocol.md",
    "pretrained.md",
    "gpu-and-clusters.md",
    "performance.md",
    "troubleshooting.md",
    "architecture.md",
]
FIELDS = {"name": str, "what": str, "command": str, "machine": str, "measured": str, "figures": dict}
OPTIONAL_FIELDS = {"notes": str}

QUOTE = re.compile(r"\[([^\]]+)\]\(([^()\s]*measurements/[\w.-]+\.json)#([^()\s#]+)\)")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|min|s|ms)")
SECONDS_PER_UNIT = {"h": 3600.0, "min": 60.0, "s": 1.0, "ms": 0.001}
# a duration in prose: a number and a unit of time
DURATION = re.compile(
    r"(?<![\w.,-])\d+(?:[.,]\d+)?\s?(?:CPU-)?(?:ms|s|min|h|secs?|seconds?|minutes?|hours?)\b", re.IGNORECASE
)
HISTORY = re.compile(
    r"\bissues? #?\d+|\bthis (?:session|change)\b|\bbefore the fix\b|\bthe earlier README\b|\bclosing note\b",
    re.IGNORECASE,
)
LINK = re.compile(r"\[[^\]]*\]\(([^()\s]+)\)")


def prose(text: str) -> str:
    """The text a reader reads as prose: code blocks, code spans and HTML comments removed."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def written_duration(text: str) -> tuple[float, float]:
    """Seconds a duration such as '2 h 22 min' or '0.4 s' stands for, and half its last unit (its precision)."""
    parts = DURATION_PART.findall(text)
    if not parts or DURATION_PART.sub("", text).strip():
        raise ValueError(f"{text!r} is not a duration such as '52 s', '13 min 30 s' or '2 h 22 min'")
    seconds = sum(float(number) * SECONDS_PER_UNIT[unit] for number, unit in parts)
    number, unit = parts[-1]
    decimals = len(number.partition(".")[2])
    return seconds, SECONDS_PER_UNIT[unit] * 10.0**-decimals / 2


def written_number(text: str) -> tuple[float, float]:
    """The number a figure such as '1,567' or '0.14' stands for, and half its last digit (its precision)."""
    plain = text.replace(",", "")
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", plain):
        raise ValueError(f"{text!r} is not a number such as '300', '0.14' or '1,567'")
    return float(plain), 10.0 ** -len(plain.partition(".")[2]) / 2


def figure(figures: dict, key: str):
    """A figure by its name, or inside an object by its path, 'object.name'."""
    if key in figures:
        return figures[key]
    value = figures
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


def quote_problems(page: Path) -> list[str]:
    """Every quote in a page that does not agree with its measurement file, as a sentence."""
    problems = []
    for text, target, key in QUOTE.findall(prose(page.read_text())):
        path = (page.parent / target).resolve()
        if not path.is_file():
            problems.append(f"{text!r}: no file {target}")
            continue
        try:
            value = figure(json.loads(path.read_text())["figures"], key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"the file's figure is {value!r}, not a number")
            written, precision = written_duration(text) if key.endswith("_s") else written_number(text)
        except (KeyError, ValueError) as error:
            problems.append(f"{text!r} -> {target}#{key}: {error}")
            continue
        if abs(written - value) > precision * (1 + 1e-9):
            problems.append(f"{text!r} -> {target}#{key}: the file says {value}")
    return problems


def unlinked_durations(text: str) -> list[str]:
    """Durations in prose that do not link to a measurement file."""
    return DURATION.findall(QUOTE.sub("", prose(text)))


def preset_comments(path: Path) -> list[str]:
    """The comments of a YAML file (from a '#' at the start of a line or after a space)."""
    return [match.group(1) for match in re.finditer(r"(?:^|\s)#(.*)$", path.read_text(), flags=re.MULTILINE)]


# ------------------------------------------------------------------ the checks on themselves


def write_measurement(folder: Path, figures: dict) -> None:
    record = {
        "name": "run",
        "what": "a run",
        "command": "make demo",
        "machine": "2 CPU cores, no GPU",
        "measured": "2026-01-02",
        "figures": figures,
    }
    (folder / "measurements").mkdir()
    (folder / "measurements" / "run.json").write_text(json.dumps(record))


def test_a_quote_that_agrees_with_its_file_passes(tmp_path):
    figures = {"wall_s": 8528, "rate": 0.1412, "faces": 1567, "parts": {"one_s": 0.43}, "pdm/B64/vectorised_ms": 0.9052}
    write_measurement(tmp_path, figures)
    page = tmp_path / "page.md"
    page.write_text(
        "took [2 h 22 min](measurements/run.json#wall_s) or [142 min](measurements/run.json#wall_s), "
        "[0.14](measurements/run.json#rate) a face, [1,567](measurements/run.json#faces) faces, "
        "one part [0.4 s](measurements/run.json#parts.one_s), [0.91](measurements/run.json#pdm/B64/vectorised_ms)"
    )
    assert len(QUOTE.findall(page.read_text())) == 6
    assert quote_problems(page) == []


def test_a_stale_quote_fails(tmp_path):
    write_measurement(tmp_path, {"wall_s": 8528, "rate": 0.1412})
    page = tmp_path / "page.md"
    page.write_text("took [2 h 05 min](measurements/run.json#wall_s), [0.15](measurements/run.json#rate) a face")
    problems = quote_problems(page)
    assert len(problems) == 2 and "the file says 8528" in problems[0] and "the file says 0.1412" in problems[1]


def test_a_quote_of_a_missing_file_or_figure_fails(tmp_path):
    write_measurement(tmp_path, {"wall_s": 60, "gpu_s": None})
    page = tmp_path / "page.md"
    page.write_text(
        "[1 min](measurements/run.json#other_s) and [1 min](measurements/gone.json#wall_s) "
        "and [about a minute](measurements/run.json#wall_s) and [1 min](measurements/run.json#gpu_s)"
    )
    problems = quote_problems(page)
    assert len(problems) == 4, problems
    assert "other_s" in problems[0] and "no file" in problems[1] and "not a duration" in problems[2]
    assert "not a number" in problems[3]


def test_durations_in_prose_are_found_unless_linked_or_code():
    text = "took 13 min 30 s, [52 s](m/measurements/x.json#a_s) each, `every_seconds: 10`, 3 seeds, 2 hours"
    text += ", 0.14 CPU-seconds"
    assert unlinked_durations(text) == ["13 min", "30 s", "2 hours", "0.14 CPU-seconds"]


# ------------------------------------------------------------------ the documentation


def test_readme_is_a_short_entry_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; topics belong in docs/"
    long = [number for number, line in enumerate(lines, 1) if len(line) > 200]
    assert not long, f"README.md lines over 200 characters: {long}"


def test_the_two_commands_are_what_the_readme_says():
    """make demo runs the study and its report, make test the default test tier, make test-all every tier, and
    CI runs exactly make setup and make test-all."""
    readme, makefile = README.read_text(), (ROOT / "Makefile").read_text()
    recipes = dict(re.findall(r"^([\w-]+):[^\n]*\n((?:\t[^\n]*\n)+)", makefile, flags=re.MULTILINE))
    assert "make demo" in readme and "make test" in readme and "make test-all" in readme
    assert "snakemake --cores $(CORES) --logger emoverify\n" in recipes["demo"]
    assert "--report results/demo/report.html" in recipes["demo"]
    pytest_command = re.search(r"^PYTEST := (.+)$", makefile, re.M).group(1)
    assert "-m pytest" in pytest_command
    assert recipes["test"] == '\t$(PYTEST) -m "not ($(BEYOND_DEFAULT))"\n' and recipes["test-all"] == "\t$(PYTEST)\n"
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make")]
    assert ci == ["make setup", "make test-all"]


def test_every_topic_has_its_page_and_the_one_index_links_every_page():
    """docs/README.md is the index; README.md points to it instead of keeping a second table."""
    index = (DOCS / "README.md").read_text()
    readme = README.read_text()
    assert "(docs/README.md)" in readme, "README.md does not link the index docs/README.md"
    assert "| page |" not in readme, "README.md keeps a table of pages: the index is docs/README.md"
    for name in TOPIC_PAGES:
        assert (DOCS / name).is_file(), name
    for page in DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index, f"docs/README.md does not link {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_lead_to_files(page):
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    missing = [t for t in targets if not (page.parent / t.partition("#")[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_quoted_figures_agree_with_their_measurement_files(page):
    assert quote_problems(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_quoted_duration_has_a_measurement_file(page):
    found = unlinked_durations(page.read_text())
    assert not found, f"{page.name} quotes durations without their file (docs/measurements/README.md): {found}"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_pages_tell_no_history(page):
    assert not HISTORY.findall(page.read_text()), page.name


@pytest.mark.parametrize("path", sorted(MEASUREMENTS.glob("*.json")), ids=lambda path: path.name)
def test_measurement_files_follow_the_format(path):
    record = json.loads(path.read_text())
    assert set(FIELDS) <= set(record) <= set(FIELDS) | set(OPTIONAL_FIELDS), sorted(record)
    for field, kind in {**FIELDS, **OPTIONAL_FIELDS}.items():
        assert field not in record or isinstance(record[field], kind), field
    assert record["name"] == path.stem
    date.fromisoformat(record["measured"])
    assert record["figures"]
    for key, value in record["figures"].items():
        values = value.values() if isinstance(value, dict) else [value]
        assert re.fullmatch(r"[^\s#()]+", key), f"{key!r}: a figure's name has no spaces, '#' or brackets"
        assert values and all(v is None or isinstance(v, int | float | str) for v in values), key


def test_measurement_files_are_quoted_or_recorded():
    """A transcribed file nobody quotes is a number without a reader; a benchmark's own record may stand alone."""
    quoted = {Path(target).name for page in PAGES for _, target, _ in QUOTE.findall(prose(page.read_text()))}
    for path in MEASUREMENTS.glob("*.json"):
        command = json.loads(path.read_text())["command"]
        recorded = command.startswith("python -m benchmarks.")
        assert path.name in quoted or recorded, f"{path.name} is neither quoted nor a benchmark's record"


PRESETS = [ROOT / "config.yaml", *sorted((ROOT / "workflow" / "presets").rglob("*.yaml"))]


@pytest.mark.parametrize("path", PRESETS, ids=lambda path: str(path.relative_to(ROOT)))
def test_config_and_preset_comments_quote_no_duration(path):
    measured = re.compile(r"\d+(\.\d+)?\s*(s|min|h|ms)\b|seconds|minutes|hours|measured", re.IGNORECASE)
    found = [comment for comment in preset_comments(path) if measured.search(comment)]
    assert not found, f"{path.name}: measurements belong in docs/ (link the page instead): {found}"
    assert yaml.safe_load(path.read_text()), path.name


def test_the_losses_example_runs():
    """docs/architecture.md's example of the losses in one's own code runs as written."""
    blocks = re.findall(r"^```python\n(.*?)^```", (DOCS / "architecture.md").read_text(), re.DOTALL | re.MULTILINE)
    assert blocks
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "docs/architecture.md", "exec"), namespace)  # noqa: S102
        assert float(namespace["loss"].detach()) >= 0
