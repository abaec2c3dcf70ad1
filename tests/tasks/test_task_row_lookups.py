"""A statement about one task (by uuid) finds its row by primary key, whatever the
statistics say.

The table is set up the way production gets it: analyzed while nearly every row had
ended, then a backlog of PENDING and running rows arrives. Statistics then call those
statuses rare, and an index led by ``status`` looks cheaper than the primary key to a
planner that is allowed to use it for ``uuid = :u AND status = 'pending'``: it would
walk the whole backlog on every claim and every final move (resumable._db.planner).

Every statement the task paths send is captured at the driver with its parameters
and explained on the same database: each scan of the task table that looks for a
uuid must be the primary key's. The scenario goes through the paths that move one
task: direct calls, schedule and wait, cancel, progress, timeout aborts, the worker
claim, heartbeats, lost attempts, and the Celery engine's statements.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text

from resumable import TaskOptions, _config, task
from resumable.execution.celery import _sql as celery_sql
from resumable.tasks import _services
from resumable.tasks._models import TaskStatus

pytestmark = pytest.mark.skipif(
    int(sqlalchemy.__version__.split(".", maxsplit=1)[0]) < 2,
    reason="statements are captured from psycopg 3 (SQLAlchemy 2)",
)

ENDED, BACKLOG = 20_000, 2_000


@task(name="tests.row_lookups.noop")
def noop() -> None:
    return None


@task(name="tests.row_lookups.progress")
def with_progress() -> None:
    from resumable import get_context

    get_context().update_task(progress=(1, 2))


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """Every statement psycopg executes in the block, with its parameters."""
    import psycopg

    seen: list[tuple[str, Any]] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        seen.append((query if isinstance(query, str) else str(query), params))
        return original(self, query, params, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def _fill_like_production(schema: str) -> None:
    """ENDED ended rows, analyzed; then a BACKLOG of pending and running rows."""
    engine = _services.current().repository.database.auto

    def rows(status: str, ended: str, beat: str, n: int) -> Any:
        return text(
            f'INSERT INTO "{schema}".resumable_tasks (uuid, name, scope, status, attempt, '
            "retries, retry_delay, abortable, timeout_unenforceable, executor, created_at, "
            "updated_at, ended_at, heartbeat_at) SELECT gen_random_uuid()::text, "
            f"'tests.row_lookups.old', 'private', '{status}', 1, 0, 0, false, false, "
            f"'worker', now(), now(), {ended}, {beat} FROM generate_series(1, {n})"
        )

    with engine.begin() as conn:
        conn.execute(rows("success", "now()", "NULL", ENDED))
        conn.execute(text(f'ANALYZE "{schema}".resumable_tasks'))
        conn.execute(rows("pending", "NULL", "NULL", BACKLOG))
        conn.execute(rows("in_progress", "NULL", "now()", BACKLOG))


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Relation Name") == "resumable_tasks":
        yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _bad_scans(statement: str, params: Any) -> list[str]:
    """The scans of the task table in ``statement``'s plan that find a uuid some other
    way than the primary key (or read the whole table)."""
    engine = _services.current().repository.database.auto
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
        found = cursor.fetchone()
        assert found is not None
        plan = found[0]
    finally:
        raw.rollback()
        raw.close()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    bad = []
    for scan in _scans(plan[0]["Plan"]):
        conditions = " ".join(str(scan.get(k, "")) for k in ("Index Cond", "Filter"))
        if scan["Node Type"] == "Seq Scan":
            bad.append(f"Seq Scan ({conditions})")
        elif "uuid" in conditions and scan.get("Index Name") != "resumable_tasks_pkey":
            bad.append(f"{scan['Node Type']} on {scan.get('Index Name')} ({conditions})")
    return bad


def _about_one_task(statement: str) -> bool:
    """An UPDATE, DELETE or SELECT on the task table that names uuids."""
    flat = " ".join(statement.split())
    words = flat.split(" ", 1)[0].upper()
    return (
        words in {"UPDATE", "DELETE", "SELECT", "WITH"}
        and "resumable_tasks" in flat
        and ("uuid = " in flat or "uuid IN" in flat)
    )


@pytest.fixture
def on_postgres(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the planner's choice is PostgreSQL's")
    return database_url.split("schema=")[1].split("&", maxsplit=1)[0]


def test_every_statement_about_one_task_takes_its_primary_key(
    on_postgres: str, configure_tasks: Callable[..., _config.Settings]
) -> None:
    configure_tasks(executor="thread")
    noop()  # tables, connections
    _fill_like_production(on_postgres)
    services = _services.current()
    with captured() as seen:
        noop()
        assert with_progress().status == "success"
        noop.schedule().wait(timeout=10)
        # A pending task cancelled; a running one's timeout abort and progress.
        later = noop.schedule(options=TaskOptions(countdown=3600))
        later.cancel()
        # The worker engine's statements on rows of the backlog.
        leases = services.leases
        claimed = leases.claim(2, "host:1:test", ["tests.row_lookups.old"])
        assert len(claimed) == 2
        leases.heartbeat([(c.uuid, 1) for c in claimed])
        assert leases.lose(claimed[0].uuid, 1, "lost in a test") is not None
        services.repository.request_timeout_abort(claimed[1].uuid, "timeout")
        services.repository.update_active(claimed[1].uuid, {"progress_current": 1.0})
        services.repository.move(
            claimed[1].uuid, TaskStatus.ABORTED, only_from=[TaskStatus.ABORTING]
        )
        # The Celery engine's statements.
        pending = celery_sql.without_message(services.repository.database, ["x"], ["default"])
        assert pending == []
        target = str(uuid.uuid4())
        assert not celery_sql.note_message(services.repository.database, target, 1, "m")
        assert not celery_sql.release(services.repository.database, target, 1, "m")
        assert services.repository.claim_named(target, ["x"], "w", "m") is None
    about_one = [(s, p) for s, p in seen if _about_one_task(s)]
    assert len(about_one) >= 10, [s for s, _ in seen]
    found = {s[:120]: _bad_scans(s, p) for s, p in about_one}
    assert {s: bad for s, bad in found.items() if bad} == {}
