"""What the bad-input tests share: the parse-time checks of a config, the rows of a tiny table, and waiting for
a process to end."""

import time

from emoverify import lifeline, study
from emoverify.schema import load_schema

SCHEMA = load_schema()


def people_rows(people=("KA", "KL", "KM"), expressions=("AN", "HA")) -> list[tuple]:
    return [
        (f"images/{person}.{expression}.png", person, expression) for person in people for expression in expressions
    ]


def checked(config: dict, **changes) -> None:
    """The parse-time checks of common.smk on ``config`` with ``changes``: names and schema, then the study."""
    merged = {**config, **changes}
    study.check_schema(merged, SCHEMA)
    study.check_study(merged)


def gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not lifeline.alive(pid):
            return True
        time.sleep(0.1)
    return False
