"""The Celery engine with real prefork workers: scheduling, results, aborts, retries."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

import resumable
from resumable.cli import main
from resumable.tasks import _services
from tests.celery.harness import CeleryCluster, eventually

pytestmark = pytest.mark.slow

TASKS = """
@task
def add(a, b):
    note(kind="add", a=a, b=b)
    return a + b


@task(retries=2, retry_delay=0.5)
def steps(n, fail_on_attempt=0, pause=0.05):
    ctx = get_context()
    stop = []
    ctx.on_abort(lambda: stop.append(True))
    start = ctx.store.get("done", 0)
    note(kind="start", attempt=ctx.task.attempt, start=start)
    for i in range(start, n):
        if stop:
            note(kind="stopped", at=i)
            return
        if ctx.task.attempt == fail_on_attempt and i == n // 2:
            raise RuntimeError("boom")
        time.sleep(pause)
        ctx.store.set("done", i + 1)
        ctx.update_task(progress=(i + 1, n))
        note(kind="item", item=i, attempt=ctx.task.attempt)
"""


def test_schedule_and_wait(
    cluster: Callable[..., CeleryCluster],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = cluster(TASKS)
    worker = c.start_worker()
    scheduled = c.module.add.schedule(2, 3)  # type: ignore[union-attr]
    assert scheduled.status == "pending"
    assert scheduled.celery_task_id == scheduled.uuid  # the first message's id
    done = scheduled.wait(timeout=60)
    assert done.status == "success" and done.result == 5  # stored by the Celery worker
    node = worker.hostname.split("@")[0]
    # The record names the Celery message and the worker (node@host:pid) that ran it.
    assert done.celery_task_id == done.uuid
    assert done.worker_id is not None and done.worker_id.startswith(node + "@")
    assert [e["kind"] for e in c.events()] == ["add"]
    assert f"resumable.run_task[{done.uuid}]" in worker.log()
    # ... and so do `resumable tasks show` and `list`.
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["tasks", "show", "--database-url", database_url, done.uuid, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["celery_task_id"] == done.uuid and shown["worker_id"] == done.worker_id
    assert shown["result"] == 5
    assert main(["tasks", "list", "--database-url", database_url]) == 0
    assert node in capsys.readouterr().out


def test_direct_call_runs_inline(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    done = c.module.add(1, 1)  # type: ignore[union-attr]
    assert done.status == "success"
    import os

    assert c.events()[0]["pid"] == os.getpid()  # no worker is even running


def test_abort_while_running(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    c.start_worker()
    running = c.module.steps.schedule(10_000)  # type: ignore[union-attr]
    assert eventually(lambda: any(e["kind"] == "item" for e in c.events()))
    assert running.cancel() == "aborted"
    assert running.wait(timeout=60).status == "aborted"
    assert any(e["kind"] == "stopped" for e in c.events())


def test_retry_resumes_from_store_after_retry_delay(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    c.start_worker()
    scheduled = c.module.steps.schedule(6, fail_on_attempt=1)  # type: ignore[union-attr]
    done = scheduled.wait(timeout=60)
    assert done.status == "success", done.error_message
    assert done.attempt == 2
    items = [e["item"] for e in c.events() if e["kind"] == "item"]
    assert items == [0, 1, 2, 3, 4, 5]  # the retry went on from the checkpoint
    starts = [e for e in c.events() if e["kind"] == "start"]
    assert [s["start"] for s in starts] == [0, 3]
    # retry_delay became a countdown, not a sleep in the worker.
    assert starts[1]["t"] - starts[0]["t"] >= 0.5


def test_bad_configuration_is_refused_and_changes_nothing() -> None:
    before = resumable.configure(executor="thread")
    try:
        with pytest.raises(resumable.ConfigurationError, match="celery_app"):
            resumable.configure(executor="celery")
        with pytest.raises(resumable.ConfigurationError, match="Celery app"):
            resumable.configure(executor="celery", celery_app=object())
        with pytest.raises(resumable.ConfigurationError, match="module:attribute"):
            resumable.configure(executor="celery", celery_app="no_colon")
        with pytest.raises(resumable.ConfigurationError, match="only used"):
            resumable.configure(executor="thread", celery_app="pkg:app")
        from resumable import _config

        assert _config.current_settings()[0] == before
    finally:
        from resumable import _config

        _services.shutdown(wait=True)
        _config.reset()


@pytest.mark.parametrize("task_key", [None, "only"])
def test_unreachable_broker_at_schedule_leaves_nothing_pending(
    database_url: str, task_key: str | None
) -> None:
    """Published before the insert (no key) or after it (a key): either way the row is
    ended ABORTED, and a keyed task's key is free again."""
    from celery import Celery

    from resumable import _config

    app = Celery("nowhere", broker="amqp://guest:guest@127.0.0.1:9//")
    app.conf.broker_connection_timeout = 1
    app.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0}
    resumable.configure(database_url=database_url, executor="celery", celery_app=app)
    try:

        @resumable.task(name="nowhere.noop")
        def noop() -> None:
            pass

        options = resumable.TaskOptions(task_key=task_key)
        with pytest.raises(resumable.StoreUnavailableError, match="could not be sent"):
            noop.schedule(options=options)
        (left,) = resumable.list_tasks()
        assert left.status == "aborted" and left.task_key == task_key
        assert left.error_message is not None and "broker" in left.error_message
        # Nothing is joined: the next schedule makes a task of its own.
        with pytest.raises(resumable.StoreUnavailableError):
            noop.schedule(options=options)
        assert len(resumable.list_tasks()) == 2
    finally:
        _services.shutdown(wait=True)
        _config.reset()


def test_configured_by_the_environment_alone(
    cluster: Callable[..., CeleryCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker's module never calls configure(): RESUMABLE_EXECUTOR=celery and
    # RESUMABLE_CELERY_APP=module:app do it, in the worker and in this process.
    c = cluster(TASKS, configure=False)
    for name, value in c.extra_env.items():
        monkeypatch.setenv(name, value)
    from resumable import _config

    _services.shutdown(wait=True)
    _config.reset()
    worker = c.start_worker()
    done = c.module.add.schedule(20, 22).wait(timeout=60)  # type: ignore[union-attr]
    assert done.status == "success"
    assert done.worker_id is not None and done.worker_id.startswith(worker.hostname[:6])
