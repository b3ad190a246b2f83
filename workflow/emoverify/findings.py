"""Committed findings: a finished study's small tables, its exact merged config and its command, copied into
``docs/studies/<name>/``, and the check that every three-decimal figure of a findings page is in one of them.

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
)
FIGURE = re.compile(r"(?<![\d.])-?\d+\.\d{3}(?!\d)")  # a number written with exactly three decimals


class FindingsError(ValueError):
    """A study that cannot be exported as asked, or a page that quotes an untraceable figure."""


def command_config(command: str, root: Path = ROOT) -> dict:
    """The merged config of a snakemake command line, as Snakemake merges it, with the schema's defaults."""
    from snakemake.utils import update_config

    from emoverify import study
    from emoverify.schema import load_schema, validate

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
    schema = load_schema()  # the registry's names as allowed values, as the workflow reads it
    config = study.coerce_to_schema(config, schema)
    try:
        study.check_schema(config, schema)
    except study.ConfigError as error:
        raise FindingsError(str(error)) from None
    validate(config, schema)  # fills in the defaults
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
    return copied


def table_figures(studies: Path) -> set[str]:
    """Every number in the committed tables, written with three decimals."""
    figures = set()
    for path in sorted(studies.glob("*/tables/*.csv")):
        values = pd.read_csv(path).select_dtypes("number").to_numpy().ravel()
        figures.update(f"{value:.3f}" for value in values if pd.notna(value))
    return figures


def untraceable_figures(page: Path, studies: Path) -> list[str]:
    """The three-decimal figures of ``page`` that no committed table under ``studies`` holds."""
    known = table_figures(studies)
    quoted = FIGURE.findall(page.read_text())
    return [figure for figure in quoted if figure not in known and f"{float(figure):.3f}" not in known]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True)
    exporting = commands.add_parser("export", help="copy a finished study's tables, config and command")
    exporting.add_argument("results", type=Path, help="results/<experiment>")
    exporting.add_argument("out", type=Path, help="docs/studies/<name>")
    exporting.add_argument("--command", required=True, help="the snakemake command that ran the study")
    checking = commands.add_parser("check", help="every three-decimal figure of a page is in a committed table")
    checking.add_argument("page", type=Path)
    checking.add_argument("studies", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.action == "export":
            copied = export(args.results, args.out, args.command)
            print(f"written: {args.out}/config.yaml, command.txt, tables/{{{', '.join(copied)}}}")
            return 0
        untraceable = untraceable_figures(args.page, args.studies)
    except FindingsError as error:
        print(f"findings: {error}", file=sys.stderr)
        return 2
    if untraceable:
        print(f"{args.page}: figures in no table under {args.studies}: {', '.join(untraceable)}", file=sys.stderr)
        return 1
    print(f"{args.page}: every three-decimal figure is in a table under {args.studies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
