"""Committed findings: a finished study's small tables, its exact merged config, its command and the CPU that
ran it (``machine.yaml``: make reproduce gives MKL that vendor, emoverify/mkl_vendor.py), copied into
``docs/studies/<name>/``, and the check that every three-decimal figure of a findings page is the table cell it
names (a tag right after it: ``0.043<!-- study/table.csv: key=value, ...; column -->``).

    python -m emoverify.findings export results/<experiment> docs/studies/<name> \\
        --command "snakemake --cores 2 --configfile workflow/presets/jaffe.yaml --config data_root=..."
    python -m emoverify.findings check docs/findings.md docs/studies

The config is rebuilt from the command as Snakemake builds it (config.yaml, then each --configfile in order,
then the key=value pairs after --config, then the schema's defaults), and must name the exported experiment.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

from emoverify import mkl_vendor

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_TABLES = ("summary.csv",)
OPTIONAL_TABLES = (
    "significance.csv",
    "label_source_comparison.csv",  # true labels against the controls: their own test
    "candidates.csv",
    "label_agreement.csv",
    "runs.csv",
    "pair_counts.csv",
    "verdict.csv",
    "power.csv",
    "training_effect.csv",
    "manipulation.csv",  # the manipulation check: did each expression term change what it targets
)
FIGURE = re.compile(r"(?<![\d.])-?\d+\.\d{3}(?!\d)")  # a number written with exactly three decimals


class FindingsError(ValueError):
    """A study that cannot be exported as asked, or a cell tag that names no readable cell."""


def command_config(command: str, root: Path = ROOT) -> dict:
    """The merged config of a snakemake command line, as Snakemake merges it, with the schema's defaults."""
    from snakemake.utils import update_config

    from emoverify import study
    from emoverify.schema import fill_defaults, load_schema

    tokens = shlex.split(command)
    files, overrides, current = [], [], None
    for token in tokens:
        if token in ("--configfile", "--configfiles"):
            current = files
        elif token == "--config":
            current = overrides
        elif token.startswith("-"):
            current = None
        elif current is not None:
            current.append(token)
    config = yaml.safe_load((root / "config.yaml").read_text())
    for name in files:
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise FindingsError(f"the command's config file {name} is not in {root}")
        update_config(config, yaml.safe_load(path.read_text()) or {})
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator:
            raise FindingsError(f"--config {override!r} is not key=value")
        update_config(config, {key: yaml.safe_load(value)})
    schema = load_schema()
    config = study.coerce_to_schema(config, schema)
    try:
        study.check_schema(config, schema)
    except study.ConfigError as error:
        raise FindingsError(str(error)) from None
    fill_defaults(config)
    return study.canonical(config)


def export(results: Path, out: Path, command: str, root: Path = ROOT) -> list[str]:
    """Copy a finished study's small tables, its merged config and its command into ``out``; returns the tables
    copied. The command must describe this experiment, and its summary must exist."""
    tables = results / "tables"
    missing = [name for name in REQUIRED_TABLES if not (tables / name).is_file()]
    if missing:
        raise FindingsError(f"{results}: no tables/{', '.join(missing)}; has the study finished?")
    config = command_config(command, root)
    if config["experiment"] != results.name:
        raise FindingsError(
            f"the command runs experiment {config['experiment']!r}, but the results are {results.name!r}: give "
            "the command that made them"
        )
    (out / "tables").mkdir(parents=True, exist_ok=True)
    copied = []
    for name in REQUIRED_TABLES + OPTIONAL_TABLES:
        if (tables / name).is_file():
            shutil.copyfile(tables / name, out / "tables" / name)
            copied.append(name)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
    (out / "command.txt").write_text(command.strip() + "\n")
    machine = mkl_vendor.this_machine()
    mkl_vendor.write_record(out, dict(machine, source="the machine that exported it (export where the study ran)"))
    return copied


# a quoted figure names its cell right after it: 0.043<!-- study/table.csv: key=value, key=a|b; column -->,
# with "; max" or "; min" where the rows chosen are several (a range's ends); key!=a|b leaves rows out
CELL_TAG = re.compile(r"\s*<!--\s*(?P<table>[\w.-]+/[\w.-]+\.csv)\s*:(?P<spec>.*?)-->", re.S)
PICKS = {"max": max, "min": min}


def _read(studies: Path, name: str, cache: dict) -> pd.DataFrame:
    if name not in cache:
        study, table = name.split("/")
        path = studies / study / "tables" / table
        if not path.is_file():
            raise FindingsError(f"names {name}, but {path} does not exist")
        cache[name] = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return cache[name]


def cell_value(studies: Path, name: str, spec: str, cache: dict | None = None) -> float:
    """The number a cell tag names: table ``name`` (study/table.csv) under ``studies``, the rows its filters keep
    (``key=a|b`` keeps rows whose key is a or b, ``key!=a|b`` drops them), its column, and where several rows
    remain the tag's ``max`` or ``min`` of them."""
    parts = [part.strip() for part in spec.split(";")]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in PICKS):
        raise FindingsError(f"{name}: a cell tag is 'key=value, ...; column' with an optional '; max' or '; min'")
    table = _read(studies, name, {} if cache is None else cache)
    keep = pd.Series(True, index=table.index)
    for condition in filter(None, (part.strip() for part in parts[0].split(","))):
        parsed = re.fullmatch(r"([\w.-]+)\s*(!?)=\s*(.+)", condition)
        if parsed is None:
            raise FindingsError(f"{name}: {condition!r} is not key=value or key!=value")
        key, negated, values = parsed.groups()
        if key not in table:
            raise FindingsError(f"{name} has no column {key!r}")
        matches = table[key].astype(str).isin([value.strip() for value in values.split("|")])
        keep &= ~matches if negated else matches
    column = parts[1]
    if column not in table:
        raise FindingsError(f"{name} has no column {column!r}")
    values = pd.to_numeric(table.loc[keep, column], errors="coerce").dropna()
    if values.empty:
        raise FindingsError(f"{name}: no row with a number in {column} matches {parts[0]!r}")
    if len(values) > 1 and len(parts) == 2:
        raise FindingsError(f"{name}: {len(values)} rows match {parts[0]!r}; name one, or add '; max' or '; min'")
    return float(PICKS[parts[2]](values) if len(parts) == 3 else values.iloc[0])


def misquoted_figures(page: Path, studies: Path) -> list[str]:
    """Every three-decimal figure of ``page`` that names no cell, names one that cannot be read, or is not that
    cell's value to three decimals: one line each, with the figure and its line."""
    text, cache, problems = page.read_text(), {}, []
    for match in FIGURE.finditer(text):
        figure, line = match.group(0), text.count("\n", 0, match.start()) + 1
        tag = CELL_TAG.match(text, match.end())
        if tag is None:
            problems.append(f"line {line}: {figure} names no cell (add <!-- study/table.csv: key=value; column -->)")
            continue
        try:
            value = cell_value(studies, tag.group("table"), tag.group("spec"), cache)
        except FindingsError as error:
            problems.append(f"line {line}: {figure}: {error}")
            continue
        if f"{value:.3f}" != figure and f"{value:.3f}" != f"{float(figure):.3f}":
            where = f"{tag.group('table')} [{tag.group('spec').strip()}]"
            problems.append(f"line {line}: {figure}, but {where} holds {value:.3f}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    exporting = commands.add_parser("export", help="copy a finished study's tables, config and command")
    exporting.add_argument("results", type=Path, help="results/<experiment>")
    exporting.add_argument("out", type=Path, help="docs/studies/<name>")
    exporting.add_argument("--command", required=True, help="the snakemake command that ran the study")
    checking = commands.add_parser("check", help="every three-decimal figure of a page is the cell it names")
    checking.add_argument("page", type=Path)
    checking.add_argument("studies", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.action == "export":
            copied = export(args.results, args.out, args.command)
            print(f"written: {args.out}/config.yaml, command.txt, machine.yaml, tables/{{{', '.join(copied)}}}")
            return 0
        misquoted = misquoted_figures(args.page, args.studies)
    except FindingsError as error:
        print(f"findings: {error}", file=sys.stderr)
        return 2
    if misquoted:
        print("\n".join(f"{args.page}: {problem}" for problem in misquoted), file=sys.stderr)
        return 1
    print(f"{args.page}: every three-decimal figure is the cell it names under {args.studies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
