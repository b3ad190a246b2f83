"""Snakemake's logger plugin ``emoverify`` (``snakemake --logger emoverify``): one console line per finished
job; the handler lives in ``emoverify.console``."""

from emoverify.console import LogHandler

__all__ = ["LogHandler"]
