"""What every benchmark shares: its output options, its JSON record and the table of its figures.

A record is one JSON object (the format docs/measurements/README.md describes):

    {"name": "losses", "what": "...", "command": "python -m benchmarks.micro.losses --sizes 64",
     "machine": "...", "measured": "YYYY-MM-DD", "figures": {"key": value, ...}}

Figure names have no spaces, ``#`` or brackets; one ending in ``_s`` holds seconds, in ``_ms`` milliseconds.
``--json PATH`` writes it to PATH; ``--record`` writes it to docs/measurements/<name>.json, the file the docs
quote; with neither it goes to results/benchmarks/<name>.json (ignored by git). A benchmark builds its parser
with ``parser(__doc__)`` and ends with ``save(args, __spec__.name, figures, __doc__)``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
MEASUREMENTS = REPO_ROOT / "docs" / "measurements"
UNTRACKED = REPO_ROOT / "results" / "benchmarks"
SIGNIFICANT_DIGITS = 4  # timings on a shared machine do not carry more
OUTPUT_OPTIONS = {"--json": 1, "--record": 0}  # option -> how many values follow it


def parser(doc: str, **kwargs) -> argparse.ArgumentParser:
    """An argument parser described by the module's docstring, with the output options."""
    made = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    add_output_options(made)
    return made


def add_output_options(parser: argparse.ArgumentParser) -> None:
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json", type=Path, metavar="PATH", help="write the record here (default: results/benchmarks/<name>.json)"
    )
    output.add_argument(
        "--record", action="store_true", help="write the record to docs/measurements/<name>.json, which docs quote"
    )


def machine() -> str:
    """The machine in words: processor, cores, Python, torch and its GPU (or "no GPU"), and the load average, which
    says whether other work shared the machine."""
    parts = [f"{platform.system()} {platform.machine()}"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        if names:
            parts.append(names[0])
    parts += [f"{os.cpu_count()} CPU cores", f"Python {platform.python_version()}"]
    torch = sys.modules.get("torch")
    if torch is not None:
        parts.append(f"torch {torch.__version__}")
    parts.append(torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else "no GPU")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f} when written")
    return ", ".join(parts)


def command(module: str, argv: list[str]) -> str:
    """The command that repeats the measurement: the module and its arguments, without the output options."""
    kept, skip = [], 0
    for word in argv:
        if skip:
            skip -= 1
            continue
        option = word.split("=", 1)[0]
        if option in OUTPUT_OPTIONS:
            skip = OUTPUT_OPTIONS[option] if "=" not in word else 0
            continue
        kept.append(repository_relative(word))
    return shlex.join(["python", "-m", module, *kept])


def repository_relative(word: str) -> str:
    """An argument with its absolute path (alone or after ``--option=``) written relative to the repository,
    as the command is run from its root: a study's folder from its ``results/`` on (it may have run in another
    clone), any other path relative to this checkout. No record names a machine's own folders."""
    option, equals, value = word.rpartition("=") if word.startswith("-") and "=" in word else ("", "", word)
    if not os.path.isabs(value):
        return word
    path = Path(value)
    if path.is_relative_to(REPO_ROOT):
        relative = str(path.relative_to(REPO_ROOT))
    elif "results" in path.parts:
        relative = str(Path(*path.parts[path.parts.index("results") :]))
    else:
        relative = os.path.relpath(path, REPO_ROOT)
    return f"{option}{equals}{relative}"


def plain(value):
    """A figure as JSON holds it: numbers to SIGNIFICANT_DIGITS, numpy scalars as Python ones, None for NaN."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    raise TypeError(f"a figure must be a number or a string, not {type(value).__name__}: {value!r}")


def make_record(module: str, figures: dict, *, what: str, argv: list[str]) -> dict:
    if not figures:
        raise ValueError(f"{module} measured nothing: no figures to record")
    badly_named = [str(key) for key in figures if not str(key) or any(c in str(key) for c in " \t#[](){}")]
    if badly_named:
        raise ValueError(f"{module}: figure names may not hold spaces, '#' or brackets: {badly_named}")
    return {
        "name": module.rsplit(".", 1)[-1],
        "what": what,
        "command": command(module, argv),
        "machine": machine(),
        "measured": datetime.date.today().isoformat(),
        "figures": {str(key): plain(value) for key, value in figures.items()},
    }


def table(figures: dict) -> str:
    width = max(len(str(key)) for key in figures)
    return "\n".join(f"  {str(key):<{width}}  {'-' if value is None else value}" for key, value in figures.items())


def destination(args: argparse.Namespace, name: str) -> list[Path]:
    paths = [args.json] if args.json else []
    if args.record:
        paths.append(MEASUREMENTS / f"{name}.json")
    return paths or [UNTRACKED / f"{name}.json"]


def save(args: argparse.Namespace, module: str, figures: dict, what: str, argv=None) -> dict:
    """Write the record where ``args`` asks and print its figures; returns the record.

    ``what``: the module's docstring (its first line is kept); ``argv``: the arguments (default: sys.argv's).
    """
    what = what.strip().splitlines()[0]
    made = make_record(module, figures, what=what, argv=sys.argv[1:] if argv is None else list(argv))
    text = json.dumps(made, indent=2) + "\n"
    paths = destination(args, made["name"])
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"\nfigures ({made['measured']}, written to {', '.join(map(str, paths))}):\n{table(made['figures'])}")
    return made
