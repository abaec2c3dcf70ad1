"""Celery workers claim only the task names they registered, register themselves as live
workers, and send messages to the task's queue."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from resumable import TaskOptions
from resumable.migrations.schema import tasks, workers
from resumable.tasks import _services
from resumable.tasks._workers import unrunnable
from tests.celery.harness import CeleryCluster, eventually

pytestmark = pytest.mark.slow

TASKS = """
if not os.environ.get("RESUMABLE_TEST_WITHOUT_TASKS"):

    @task(retries=2)
    def job(n):
        note(kind="ran", n=n, worker=os.environ.get("WORKER_NAME"))
        return n
"""


def _registered() -> list[Any]:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        return list(conn.execute(select(workers)))


def _row(task_uuid: str) -> Any:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        return conn.execute(select(tasks).where(tasks.c.uuid == task_uuid)).one()


def test_a_worker_without_the_task_leaves_it_pending(
    cluster: Callable[..., CeleryCluster],
) -> None:
    c = cluster(TASKS)
    module: Any = c.module
    task = module.job.schedule(1)
    without = c.start_worker(env={"RESUMABLE_TEST_WITHOUT_TASKS": "1", "WORKER_NAME": "without"})
    # At start it names what it sees pending on its queues but cannot run.
    assert eventually(lambda: f"{module.job.name}@default" in without.log(), 60), without.log()
    assert eventually(lambda: any(r.engine == "celery" for r in _registered()), 60)
    assert all(json.loads(r.task_names) == [] for r in _registered())
    assert eventually(lambda: f"not running task_uuid={task.uuid}" in without.log(), 60)
    row = _row(task.uuid)
    assert (row.status, row.attempt, row.error_message, row.started_at) == (
        "pending",
        1,
        None,
        None,
    )
    assert row.celery_task_id is None  # let go: a worker that has the name sends anew
    assert unrunnable([task]) == {
        task.uuid: f"no live worker runs {module.job.name} on queue default"
    }

    c.start_worker(env={"WORKER_NAME": "with"})
    assert eventually(lambda: _row(task.uuid).status != "pending", 60), c.logs()
    task.wait(timeout=60)
    assert task.status == "success" and task.attempt == 1
    assert [e["worker"] for e in c.events() if e["kind"] == "ran"] == ["with"]
    assert unrunnable([task]) == {}
    names = sorted(tuple(json.loads(r.task_names)) for r in _registered())
    assert names[0] == () and names[-1] == (module.job.name,)
    assert {tuple(json.loads(r.queues)) for r in _registered()} == {("default",)}


def test_messages_go_to_the_task_queue(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    module: Any = c.module
    side = f"{c.queue}-side"
    c.start_worker(queues=(side,), env={"WORKER_NAME": "side"})
    assert eventually(lambda: len(_registered()) >= 1, 60)
    assert {tuple(json.loads(r.queues)) for r in _registered()} == {(side,)}
    routed = module.job.schedule(0, options=TaskOptions(queue=side))
    routed.wait(timeout=60)
    assert routed.status == "success"
    task = module.job.schedule(1)  # on the default queue: nobody consumes it
    assert unrunnable([task]) == {
        task.uuid: f"no live worker runs {module.job.name} on queue default"
    }
    # Moved to the side queue with no message: the keeper of the worker that consumes
    # that queue sends one there.
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        conn.execute(
            update(tasks).where(tasks.c.uuid == task.uuid).values(queue=side, celery_task_id=None)
        )
    assert unrunnable([task]) == {}
    task.wait(timeout=60)
    assert task.status == "success"
    assert [e["worker"] for e in c.events() if e["kind"] == "ran"] == ["side", "side"]
