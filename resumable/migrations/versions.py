"""The ordered list of schema migrations. Append only; never edit a released one."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import inspect
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


def _schema_of(conn: Connection) -> str | None:
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    found: str | None = translate.get(None)
    return found


def _add_columns(conn: Connection, table_name: str, names: tuple[str, ...]) -> None:
    """ALTER TABLE … ADD COLUMN for each of ``names`` the table lacks.

    Databases created after a column joined ``schema.py`` already have it (their
    earlier migration created the table whole), so only the missing ones are added.
    """
    table = schema.metadata.tables[table_name]
    owner = _schema_of(conn)
    present = {column["name"] for column in inspect(conn).get_columns(table_name, schema=owner)}
    qualified = f'"{owner}"."{table_name}"' if owner else f'"{table_name}"'
    for name in names:
        if name in present:
            continue
        column_type = table.c[name].type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f'ALTER TABLE {qualified} ADD COLUMN "{name}" {column_type}')


def _v3_task_leases(conn: Connection) -> None:
    _add_columns(
        conn,
        "resumable_tasks",
        ("heartbeat_at", "worker_id", "kill_after", "aborting_since", "executor"),
    )
    index = next(
        i for i in schema.tasks.indexes if i.name == "ix_resumable_tasks_status_heartbeat_at"
    )
    index.create(conn, checkfirst=True)


def _v4_api(conn: Connection) -> None:
    schema.api_tokens.create(conn, checkfirst=True)
    wanted = {
        "ix_resumable_tasks_name_created_at",
        "ix_resumable_tasks_status_created_at",
        "ix_resumable_tasks_created_by_created_at",
    }
    for index in schema.tasks.indexes:
        if index.name in wanted:
            index.create(conn, checkfirst=True)


def _v5_celery(conn: Connection) -> None:
    _add_columns(conn, "resumable_tasks", ("celery_task_id",))


def _v6_progress_start(conn: Connection) -> None:
    _add_columns(conn, "resumable_tasks", ("progress_start_fraction",))


def _v7_boundary(conn: Connection) -> None:
    _add_columns(conn, "resumable_tasks", ("queue", "result"))
    index = next(
        i for i in schema.tasks.indexes if i.name == "ix_resumable_tasks_status_queue_name"
    )
    index.create(conn, checkfirst=True)
    schema.workers.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "checkpoint store: state and attempts", _v1_checkpoint_store),
    Migration(2, "tasks: tasks and task subscribers", _v2_tasks),
    Migration(3, "tasks: heartbeat leases and hard stops", _v3_task_leases),
    Migration(4, "api: bearer tokens; task listing indexes", _v4_api),
    Migration(5, "tasks: the Celery message id of the current attempt", _v5_celery),
    Migration(6, "tasks: progress fraction at the start of each attempt", _v6_progress_start),
    Migration(7, "tasks: queue and result; live workers and what they can run", _v7_boundary),
)
