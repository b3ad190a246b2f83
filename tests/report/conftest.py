"""The small hand-made study the report tests share."""

from report_runs import study  # noqa: F401  (a fixture)
