"""A Snakemake console of one line per finished job, for ``make demo`` (``snakemake --logger emoverify``).

Snakemake's own console describes every job before it starts (inputs, outputs, log, reason, wildcards,
resources: about ten lines a job) and adds "Select jobs", "Execute" and progress lines around it. This handler
prints instead one line when a job finishes: the time, how many of the study's jobs are done, the rule and its
wildcards. Errors and warnings are shown in full, as Snakemake formats them, and so is any other message; the
complete log, with every job description, is still Snakemake's ``.snakemake/log/<time>.snakemake.log``.
The jobs' own progress lines (faces, epochs) are theirs, written straight to the terminal, and unchanged.

Snakemake finds it by this package's name, and imports every logger plugin on its path at each start, whatever
the command: so this module stands alone (Snakemake's interface and the standard library only), and a checkout
whose ``emoverify`` is older than the installed one still starts.
"""

from __future__ import annotations

import logging
import sys
import time

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

# Snakemake's messages about its own scheduling: in the complete log, not on this console
CHATTER = (
    "Select jobs to execute",
    "Execute ",
    "Building DAG of jobs",
    "Using shell:",
    "Provided cores:",
    "Provided resources:",
    "Rules claiming more threads",
    "Conda environments:",
    "Assuming unrestricted shared filesystem usage",
    "Singularity containers:",
)
SILENT_EVENTS = {
    LogEvent.WORKFLOW_STARTED,
    LogEvent.RUN_INFO,
    LogEvent.RESOURCES_INFO,
    LogEvent.SHELLCMD,
    LogEvent.JOB_STARTED,
    LogEvent.GROUP_INFO,
    LogEvent.DEBUG_DAG,
    LogEvent.RULEGRAPH,
}


def job_description(rule: str, wildcards: dict | None) -> str:
    """``train_run method=tl label_source=none fold=0``: the rule and its wildcards, in the rule's order."""
    return " ".join([rule, *(f"{name}={value}" for name, value in (wildcards or {}).items())])


def finished_line(clock: str, done: int, total: int, description: str) -> str:
    return f"[{clock}] {done} of {total} done: {description}"


class OneLinePerJob:
    """The console's state: each started job's description by its id, and the jobs that finished since the last
    progress count (Snakemake logs a job's end before the count that includes it)."""

    def __init__(self, clock=lambda: time.strftime("%H:%M:%S")) -> None:
        self.clock = clock
        self.descriptions: dict[int, str] = {}
        self.finished: list[int] = []

    def lines(self, record: logging.LogRecord, full_text) -> list[str]:
        """What the console shows for one log record (often nothing); ``full_text`` formats a record as
        Snakemake's own console would."""
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_INFO:
            self.descriptions[record.jobid] = job_description(record.rule_name, getattr(record, "wildcards", None))
            return []
        if event == LogEvent.JOB_FINISHED:
            self.finished.append(record.job_id)
            return []
        if event == LogEvent.PROGRESS:
            finished, self.finished = self.finished, []
            clock = self.clock()
            return [
                finished_line(clock, record.done, record.total, self.descriptions.pop(job, f"job {job}"))
                for job in finished
            ]
        if record.levelno >= logging.WARNING or event in (LogEvent.JOB_ERROR, LogEvent.GROUP_ERROR, LogEvent.ERROR):
            return [full_text(record)]
        if event in SILENT_EVENTS or record.levelno < logging.INFO:
            return []
        text = full_text(record)
        if not text.strip() or text.lstrip().startswith(CHATTER):
            return []
        return [text]


class LogHandler(LogHandlerBase):
    """Snakemake's logger plugin interface around ``OneLinePerJob``, writing to standard error."""

    def __post_init__(self) -> None:
        from snakemake.logging import DefaultFormatter

        self.console = OneLinePerJob()
        self.full = DefaultFormatter(self.common_settings.quiet, self.common_settings.show_failed_logs)
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        try:
            for line in self.console.lines(record, self.full.format):
                print(line, file=self.stream, flush=True)
        except Exception:  # a console line must never stop the study
            self.handleError(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
