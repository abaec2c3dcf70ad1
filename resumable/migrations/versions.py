"""The ordered list of schema migrations. Append only; never edit a released one."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy.engine import Connection

from resumable.migrations import schema


class Migration(NamedTuple):
    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_checkpoint_store(conn: Connection) -> None:
    schema.state.create(conn, checkfirst=True)
    schema.attempts.create(conn, checkfirst=True)


def _v2_tasks(conn: Connection) -> None:
    schema.tasks.create(conn, checkfirst=True)
    schema.task_subscribers.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "checkpoint store: state and attempts", _v1_checkpoint_store),
    Migration(2, "tasks: tasks and task subscribers", _v2_tasks),
)
