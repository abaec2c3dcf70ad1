"""A task's first message leaves before its row is inserted, and may arrive first.

``.schedule()`` of a task without a dedup key publishes its first message, then
inserts the row; a worker that gets the message before the insert has committed claims
again a moment later (``ROW_WAITS``). These tests pin that down: the late row is waited
for, a row that never comes ends the wait, only a first message waits, and a failed
publish still ends the task ABORTED (tests/celery/test_celery_basics.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import resumable
from resumable import _config
from resumable.execution.celery import _runner, _sql
from resumable.execution.celery._app import send
from resumable.tasks import _services
from resumable.tasks._models import TaskScope
from resumable.tasks._rows import NewTask
from tests.celery.harness import CeleryCluster, eventually

TASKS = """
@task
def hello(who):
    note(kind="hello", who=who)
    return f"hello {who}"
"""

SHORT_WAITS = (0.01, 0.02, 0.05, 0.1, 0.2)


def _new_task(task_uuid: str, name: str, arguments: str) -> NewTask:
    return NewTask(
        uuid=task_uuid,
        name=name,
        task_key=None,
        task_name=None,
        scope=TaskScope.PRIVATE,
        active_dedup_key=None,
        retries=0,
        retry_delay=0.0,
        timeout=None,
        created_by=None,
        arguments=arguments,
        executor="celery",
        celery_task_id=task_uuid,
    )


@pytest.mark.slow
def test_a_first_message_that_overtakes_its_insert_runs_the_task(
    cluster: Callable[..., CeleryCluster],
) -> None:
    c = cluster(TASKS)
    c.start_worker()
    task_uuid = str(uuid.uuid4())
    # The message first, the row 0.3 s later: the worker must wait for it, not drop it.
    send(c.module.app, task_uuid, message_id=task_uuid)  # type: ignore[union-attr]
    time.sleep(0.3)
    arguments = '{"args": ["late row"], "kwargs": {}}'
    name = c.module.hello.name  # type: ignore[union-attr]
    _services.current().repository.create(_new_task(task_uuid, name, arguments))
    done = resumable.wait_for_task(task_uuid, timeout=60)
    assert done.status == "success" and done.result == "hello late row"
    assert [e["who"] for e in c.events()] == ["late row"]


@pytest.mark.slow
def test_a_first_message_whose_row_never_comes_is_dropped(
    cluster: Callable[..., CeleryCluster],
) -> None:
    c = cluster(TASKS)
    worker = c.start_worker()
    ghost = str(uuid.uuid4())
    send(c.module.app, ghost, message_id=ghost)  # type: ignore[union-attr]
    # The worker is free again once the waits (about 4 s) are over: later tasks run.
    done = c.module.hello.schedule("after").wait(timeout=60)  # type: ignore[union-attr]
    assert done.status == "success"
    assert eventually(lambda: "dropped: no such task" in worker.log())
    assert resumable.list_tasks(limit=10)[0].uuid == done.uuid  # the ghost made no row


@pytest.fixture
def configured(database_url: str) -> Iterator[Any]:
    """resumable on Celery in this process (a Redis broker nobody consumes from)."""
    from celery import Celery

    from tests.conftest import require_server

    require_server("redis")
    app = Celery("first_message", broker="redis://127.0.0.1:6379/0")
    app.conf.task_default_queue = f"first-message-{uuid.uuid4().hex[:8]}"
    resumable.configure(database_url=database_url, executor="celery", celery_app=app)

    @resumable.task(name=f"first_message.noop_{uuid.uuid4().hex[:6]}")
    def noop() -> str:
        return "ran"

    yield SimpleNamespace(app=app, noop=noop)
    _services.shutdown(wait=True)
    _config.reset()
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(app.conf.task_default_queue)


def _delivery(app: Any, task_uuid: str, message_id: str) -> Any:
    """What ``run_task`` reads of Celery's bound task: the request's id and host."""
    return SimpleNamespace(app=app, request=SimpleNamespace(id=message_id, hostname="test@h"))


def test_the_runner_waits_for_a_late_row(configured: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runner, "ROW_WAITS", SHORT_WAITS)
    repository = _services.current().repository
    task_uuid = str(uuid.uuid4())
    new = _new_task(task_uuid, configured.noop.name, '{"args": [], "kwargs": {}}')
    late = threading.Timer(0.05, lambda: repository.create(new))
    late.start()
    outcome = _runner.run_task(_delivery(configured.app, task_uuid, task_uuid), task_uuid)
    late.join()
    assert outcome == "ran attempt 1: success"
    assert resumable.get_task(task_uuid).result == "ran"


def test_the_runner_gives_up_when_the_row_never_comes(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_runner, "ROW_WAITS", SHORT_WAITS)
    task_uuid = str(uuid.uuid4())
    started = time.monotonic()
    outcome = _runner.run_task(_delivery(configured.app, task_uuid, task_uuid), task_uuid)
    assert outcome == "dropped: no such task (pruned or deleted)"
    assert time.monotonic() - started >= sum(SHORT_WAITS)  # it did wait


def test_only_a_first_message_waits_for_its_row(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A resent message (its own id) of a task that is gone: dropped without waiting.
    waited: list[float] = []
    monkeypatch.setattr(_runner.time, "sleep", waited.append)
    task_uuid = str(uuid.uuid4())
    delivery = _delivery(configured.app, task_uuid, f"{task_uuid}.1a2b3c4d")
    assert _runner.run_task(delivery, task_uuid).startswith("dropped: no such task")
    assert waited == []


def test_a_claim_lost_to_another_delivery_does_not_wait(
    configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled = configured.noop.schedule()
    first = _runner.run_task(
        _delivery(configured.app, scheduled.uuid, scheduled.uuid), scheduled.uuid
    )
    assert first == "ran attempt 1: success"
    waited: list[float] = []
    monkeypatch.setattr(_runner.time, "sleep", waited.append)
    # The same first message delivered again: the row is there, the task has ended.
    again = _runner.run_task(
        _delivery(configured.app, scheduled.uuid, scheduled.uuid), scheduled.uuid
    )
    assert again == "dropped: the task is success (attempt 1)"
    assert waited == []


def test_schedule_publishes_before_it_inserts_unless_keyed(configured: Any) -> None:
    rows_when_sent: list[bool] = []
    executor = _services.current().executor
    real = executor._send_first
    database = _services.current().repository.database

    def spy(task_uuid: str, queue: str | None, delay: float) -> None:
        rows_when_sent.append(_sql.exists(database, task_uuid))
        real(task_uuid, queue, delay)

    executor._send_first = spy
    scheduled = configured.noop.schedule()
    assert scheduled.status == "pending" and scheduled.celery_task_id == scheduled.uuid
    assert rows_when_sent == [False]  # sent first, inserted after
    assert _sql.exists(database, scheduled.uuid)
    # A keyed task may be joined instead of created: it is sent only once created.
    keyed = configured.noop.schedule(options=resumable.TaskOptions(task_key="k"))
    joined = configured.noop.schedule(options=resumable.TaskOptions(task_key="k"))
    assert joined.uuid == keyed.uuid
    assert rows_when_sent == [False, True]


def test_the_claim_does_not_leave_commits_asynchronous(configured: Any, database_url: str) -> None:
    """The claim turns the WAL flush wait off for its own transaction only: the next
    statement on the same kept connection (the final move) commits synchronously."""
    if not database_url.startswith("postgresql"):
        pytest.skip("synchronous_commit is PostgreSQL's")
    repository = _services.current().repository
    assert repository.claims_named
    scheduled = configured.noop.schedule()
    claimed = repository.claim_named(scheduled.uuid, [configured.noop.name], "w:1", scheduled.uuid)
    assert claimed is not None and claimed[0].status.value == "in_progress"

    def setting(cursor: Any) -> str:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])

    assert repository._hot.direct.call(setting) == "on"
