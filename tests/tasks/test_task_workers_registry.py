"""Claiming by registered name and queue, and the registry of live workers."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from resumable import task
from resumable._db.types import utcnow
from resumable.migrations.schema import tasks, workers
from resumable.tasks import _services
from resumable.tasks._workers import WorkerRegistry, unrunnable


def _task(label: str) -> Any:
    @task(name=f"{label}_{uuid.uuid4().hex[:8]}")
    def body() -> None:
        return None

    return body


def _set_queue(task_uuid: str, queue: str | None) -> None:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        conn.execute(update(tasks).where(tasks.c.uuid == task_uuid).values(queue=queue))


def _row(task_uuid: str) -> Any:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        return conn.execute(select(tasks).where(tasks.c.uuid == task_uuid)).one()


def _beat(
    registry: WorkerRegistry,
    worker_id: str,
    task_names: list[str],
    queues: list[str],
    *,
    started_at: datetime | None = None,
    ago: timedelta = timedelta(0),
) -> None:
    """The beat of a ``resumable worker`` named ``host:pid``, sent ``ago`` before now."""
    hostname, pid = worker_id.split(":")
    registry.beat(
        worker_id,
        hostname=hostname,
        pid=int(pid),
        engine="worker",
        task_names=task_names,
        queues=queues,
        started_at=started_at or utcnow(),
        now=utcnow() - ago,
    )


@pytest.fixture
def on_workers(configure_tasks: Any) -> Any:
    """Tasks scheduled here wait for worker processes (none runs in this test)."""
    return configure_tasks(executor="worker")


def test_claim_takes_only_registered_names_on_served_queues(on_workers: Any) -> None:
    mine, other = _task("mine"), _task("other")
    plain = mine.schedule()
    exports = mine.schedule()
    _set_queue(exports.uuid, "exports")
    literal_default = mine.schedule()
    _set_queue(literal_default.uuid, "default")
    foreign = other.schedule()
    leases = _services.current().leases
    before = _row(foreign.uuid)

    claimed = leases.claim_due(10, "w1", [mine.name])
    assert sorted(claimed) == sorted([plain.uuid, literal_default.uuid])
    assert leases.claim_due(10, "w1", [mine.name], ["other"]) == []
    assert leases.claim_due(10, "w1", [mine.name], ["default", "exports"]) == [exports.uuid]
    # Another name's row is not touched at all, not even its updated_at.
    assert leases.claim_due(10, "w1", [mine.name], ["default", "exports"]) == []
    assert _row(foreign.uuid) == before
    assert leases.claim_due(10, "w2", [other.name]) == [foreign.uuid]


def test_claim_with_thousands_of_names(on_workers: Any) -> None:
    mine = _task("many")
    scheduled = mine.schedule()
    # Far beyond SQLite's bound-parameter limit (999 on old builds, 32 766 on new).
    names = [f"unrelated.task_{i}" for i in range(40_000)] + [mine.name, "it's quoted"]
    leases = _services.current().leases
    assert leases.claim_due(5, "w", names, ["q'uote", "default"]) == [scheduled.uuid]


def test_registry_rows_live_and_stale(on_workers: Any) -> None:
    database = _services.current().repository.database
    registry = WorkerRegistry(database)
    started = utcnow()
    _beat(registry, "host:1", ["b.one", "a.two"], ["default", "exports"], started_at=started)
    _beat(registry, "host:2", ["c"], ["default"], started_at=started, ago=timedelta(minutes=5))
    (alive,) = registry.live(lease=30)
    assert alive.worker_id == "host:1"
    assert alive.task_names == {"a.two", "b.one"} and alive.queues == {"default", "exports"}
    assert alive.runs("worker", "a.two", None) and alive.runs("worker", "a.two", "exports")
    assert not alive.runs("celery", "a.two", None) and not alive.runs("worker", "a.two", "x")
    # A second beat refreshes the row instead of adding one.
    _beat(registry, "host:1", ["b.one"], ["default"], started_at=started)
    assert [w.task_names for w in registry.live(lease=30)] == [{"b.one"}]
    assert registry.collect(lease=30) == 1
    registry.remove("host:1")
    with database.auto.connect() as conn:
        assert conn.execute(select(workers)).all() == []


def test_unrunnable_names_what_no_live_worker_runs(on_workers: Any) -> None:
    served, unserved = _task("served"), _task("unserved")
    runnable = served.schedule()
    wrong_queue = served.schedule()
    _set_queue(wrong_queue.uuid, "exports")
    stranded = unserved.schedule()
    registry = WorkerRegistry(_services.current().repository.database)
    assert set(unrunnable([runnable, wrong_queue, stranded])) == {
        runnable.uuid,
        wrong_queue.uuid,
        stranded.uuid,
    }
    _beat(registry, "h:1", [served.name], ["default"])
    # A stale worker that could run everything changes nothing.
    _beat(
        registry,
        "h:2",
        [served.name, unserved.name],
        ["default", "exports"],
        ago=timedelta(hours=1),
    )
    found = unrunnable([runnable, wrong_queue, stranded])
    assert found == {
        wrong_queue.uuid: f"no live worker runs {served.name} on queue exports",
        stranded.uuid: f"no live worker runs {unserved.name} on queue default",
    }
    # Tasks of the thread executor are run by their own process: never listed.
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        conn.execute(update(tasks).where(tasks.c.uuid == stranded.uuid).values(executor="thread"))
    assert set(unrunnable([runnable, wrong_queue, stranded])) == {wrong_queue.uuid}
