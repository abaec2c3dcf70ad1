"""Round trips are part of a path's contract: a no-op task costs what it must, no more.

Counted at the driver (statements, pre-pings, BEGIN/COMMIT, signal publishes), after a
warm-up, so the counts are exact and stable: these are not timing asserts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy

from resumable import TaskOptions, _config, task
from resumable._db.roundtrips import count_round_trips

# The counts are the contract on SQLAlchemy 2 with psycopg 3, where the hot statements use
# RETURNING and the counter hooks psycopg 3's cursors. On SQLAlchemy 1.4 + psycopg2 (beside
# Airflow 2) the counter sees no PostgreSQL statements and SQLite reads the row back once
# more (3 round trips for a direct call, not 2): not asserted there.
pytestmark = pytest.mark.skipif(
    int(sqlalchemy.__version__.split(".", maxsplit=1)[0]) < 2,
    reason="round trips are counted on SQLAlchemy 2 + psycopg 3",
)


@task(name="tests.round_trips.noop")
def noop() -> None:
    return None


def _published(statements: list[str]) -> int:
    return sum("pg_notify" in s for s in statements)


@pytest.mark.parametrize("executor", ["inline", "thread"])
def test_direct_call_is_create_and_start_then_the_final_move(
    configure_tasks: Callable[..., _config.Settings], executor: str, database_url: str
) -> None:
    configure_tasks(executor=executor)
    noop()  # connections, tables
    with count_round_trips() as trips:
        t = noop()
    assert t.status == "success" and t.ended_at is not None and t.subscribers == []
    # INSERT … IN_PROGRESS, then UPDATE … SUCCESS (RETURNING the row); on PostgreSQL
    # without Redis the signal other processes' wait() listens to travels in that same
    # statement (a pg_notify over the moved row), not in a round trip of its own.
    assert trips.total == 2, trips.statements
    assert _published(trips.statements) == 0, trips.statements
    # (The counter keeps each statement's first 200 characters; the notify is last.)
    folded = trips.statements[1].startswith("WITH moved AS (UPDATE")
    assert folded == database_url.startswith("postgresql"), trips.statements


def test_the_signal_sent_with_the_final_move_reaches_other_processes(
    configure_tasks: Callable[..., _config.Settings], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    from resumable.coordination._pg_notify import PostgresNotifyChannel

    configure_tasks(executor="inline")
    heard: list[str] = []
    arrived = threading.Event()

    def on_signal(task_uuid: str) -> None:
        heard.append(task_uuid)
        arrived.set()

    # What another process's wait() listens on.
    other = PostgresNotifyChannel(database_url)
    other.start(on_signal, lambda: None)
    try:
        assert other.wait_connected(20)
        t = noop()
        assert t.status == "success"
        deadline = time.monotonic() + 20
        while t.uuid not in heard and time.monotonic() < deadline:
            arrived.wait(0.1)
            arrived.clear()
        assert t.uuid in heard
    finally:
        other.close()


def test_waiting_on_an_ended_task_reads_it_once(
    configure_tasks: Callable[..., _config.Settings],
) -> None:
    configure_tasks()
    t = noop()
    t.wait(timeout=5)
    with count_round_trips() as trips:
        assert t.wait(timeout=5).status == "success"
    # The row and its subscribers (PostgreSQL may pre-ping a pooled connection once).
    assert len([s for s in trips.statements if s.strip(" ;")]) == 2, trips.statements


def test_keyed_direct_call_still_reads_its_subscribers(
    configure_tasks: Callable[..., _config.Settings],
) -> None:
    configure_tasks()
    t = noop(options=TaskOptions(task_key="k"))
    assert t.status == "success" and t.task_key == "k"
    assert noop(options=TaskOptions(task_key="k")).uuid != t.uuid  # the key was freed
