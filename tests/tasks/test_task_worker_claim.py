"""A worker's claim: one statement for a batch, the whole row handed to the child.

Round trips are counted at the driver (as in test_task_round_trips.py): exact counts,
not timings. The batch claim is checked from many threads at once, each with its own
limit: every task is claimed exactly once and no claim exceeds its limit (with
PostgreSQL's SKIP LOCKED a claim that ran its subquery again would take more).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import update

from resumable import TaskOptions, _config, task
from resumable._db.roundtrips import count_round_trips
from resumable._db.types import utcnow
from resumable.execution.worker._child import run_here
from resumable.migrations.schema import tasks
from resumable.tasks import _services

SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".", maxsplit=1)[0]) >= 2


@task(name="tests.worker_claim.add")
def add(a: int, b: int = 0) -> int:
    return a + b


@pytest.fixture
def on_workers(configure_tasks: Callable[..., _config.Settings]) -> _config.Settings:
    """Tasks scheduled here wait for worker processes (none runs in this test)."""
    return configure_tasks(executor="worker")


def test_claim_returns_the_row_and_arguments_oldest_first(on_workers: Any) -> None:
    scheduled = [add.schedule(i, b=10) for i in range(3)]
    leases = _services.current().leases
    claimed = leases.claim(5, "host:1:abc", [add.name])
    assert [found.uuid for found in claimed] == [t.uuid for t in scheduled]
    first = claimed[0]
    record = first.record()
    assert record.status == "in_progress" and record.attempt == 1
    assert record.worker_id == "host:1:abc" and record.started_at is not None
    assert record.name == add.name and record.subscribers == []
    assert first.get("kill_after") is None
    assert '"kwargs"' in (first.arguments or "")
    # What the child does with it: runs the attempt without reading the row.
    assert run_here(_services.current(), first.uuid, first)
    assert scheduled[0].wait(timeout=10).result == 10


def test_claim_skips_what_is_not_due_or_not_pending(on_workers: Any) -> None:
    later = add.schedule(1, options=TaskOptions(countdown=3600))
    cancelled = add.schedule(2)
    cancelled.cancel()
    due = add.schedule(3)
    leases = _services.current().leases
    assert leases.claim_due(5, "w", [add.name]) == [due.uuid]
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.uuid == later.uuid)
            .values(not_before=utcnow() - timedelta(seconds=1))
        )
    assert leases.claim_due(5, "w", [add.name]) == [later.uuid]
    assert leases.claim_due(5, "w", [add.name]) == []


def test_concurrent_claims_take_each_task_once_and_never_beyond_their_limit(
    on_workers: Any,
) -> None:
    scheduled = {add.schedule(i).uuid for i in range(60)}
    leases = _services.current().leases
    taken: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def claimer(limit: int) -> None:
        try:
            start.wait(10)
            while True:
                batch = leases.claim_due(limit, f"w{limit}", [add.name])
                if not batch:
                    return
                taken.append(batch)
                assert len(batch) <= limit, (limit, batch)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in (1, 2, 3, 4, 5, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    everything = [task_uuid for batch in taken for task_uuid in batch]
    assert len(everything) == len(set(everything)) == len(scheduled)
    assert set(everything) == scheduled


@pytest.mark.skipif(not SQLALCHEMY_2, reason="round trips are counted on SQLAlchemy 2")
def test_a_worker_attempt_is_the_claim_and_the_final_move(
    on_workers: Any, database_url: str
) -> None:
    services = _services.current()
    # Warm: connections, pragmas, compiled statements.
    add.schedule(0)
    (warm,) = services.leases.claim(1, "w", [add.name])
    assert run_here(services, warm.uuid, warm)
    for _ in range(3):
        add.schedule(1)
    with count_round_trips() as claiming:
        claimed = services.leases.claim(3, "w", [add.name])
    assert len(claimed) == 3
    # Three tasks, one statement (no BEGIN/COMMIT, no pre-ping, no read back).
    assert claiming.total == 1, claiming.statements
    with count_round_trips() as running:
        assert run_here(services, claimed[0].uuid, claimed[0])
    # The child reads nothing: the final move (with its pg_notify on PostgreSQL).
    assert running.total == 1, running.statements
