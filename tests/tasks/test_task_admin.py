"""Pruning, configuration, executors and bad input."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

import resumable
from resumable import TaskOptions, TaskScope, get_context, task
from resumable._db.types import utcnow
from resumable.migrations.schema import tasks
from resumable.tasks import _services


def _age(task_uuid: str, days: float) -> None:
    """Pretend the task ended ``days`` ago (the clock is not ours to move)."""
    database = _services.current().repository.database
    with database.tx.begin() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.uuid == task_uuid)
            .values(
                ended_at=utcnow() - timedelta(days=days),
                created_at=utcnow() - timedelta(days=days + 1),
            )
        )


def test_prune_deletes_only_old_terminal_tasks_oldest_first(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")

    @task
    def job() -> None: ...

    @task
    def failing() -> None:
        raise RuntimeError("x")

    old = [job(), failing(), job(), job()]
    for age, t in zip((100, 200, 300, 400), old, strict=True):
        _age(t.uuid, age)
    recent = job()
    pending = job.schedule()  # never pruned, however old
    _age(pending.uuid, 500)
    assert resumable.prune_tasks(retention_period_days=90, max_rows_per_run=2) == 2
    remaining = {t.uuid for t in resumable.list_tasks()}
    assert old[3].uuid not in remaining and old[2].uuid not in remaining  # oldest first
    assert {old[0].uuid, old[1].uuid, recent.uuid, pending.uuid} <= remaining
    assert resumable.prune_tasks(retention_period_days=90) == 2
    assert {t.uuid for t in resumable.list_tasks()} == {recent.uuid, pending.uuid}
    assert resumable.prune_tasks(retention_period_days=0) == 1  # recent ended before now
    assert [t.uuid for t in resumable.list_tasks()] == [pending.uuid]


def test_prune_in_batches(configure_tasks: Any) -> None:
    configure_tasks()

    @task
    def job() -> None: ...

    for _ in range(7):
        _age(job().uuid, 100)
    repository = _services.current().repository
    assert repository.prune(utcnow() - timedelta(days=90), 10, batch_size=3) == 7


def test_prune_needs_admin_and_valid_numbers(configure_tasks: Any) -> None:
    configure_tasks()
    with resumable.acting_as("alice"), pytest.raises(resumable.PermissionDeniedError):
        resumable.prune_tasks()
    with resumable.acting_as("root", admin=True):
        assert resumable.prune_tasks() == 0
    for bad in ({"retention_period_days": -1}, {"max_rows_per_run": 0}, {"max_rows_per_run": 1.5}):
        with pytest.raises(resumable.InvalidValueError):
            resumable.prune_tasks(**bad)  # type: ignore[arg-type]


def test_configure_replaces_the_previous_configuration(
    configure_tasks: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_tasks(executor="inline")

    @task
    def job() -> None: ...

    first = job.schedule()
    assert first.status == "success"  # inline ran it before returning
    other = f"sqlite:///{tmp_path / 'other.db'}"
    settings = resumable.configure(database_url=other, executor="worker")
    assert settings.executor == "worker" and settings.progress_throttle == 2.0
    assert resumable.list_tasks() == []  # a different database now
    assert job.schedule().status == "pending"
    monkeypatch.setenv("RESUMABLE_DATABASE_URL", other)
    monkeypatch.setenv("RESUMABLE_EXECUTOR", "inline")
    settings = resumable.configure()
    assert settings.database_url == other and settings.executor == "inline"


def test_default_database_is_the_embedded_sqlite_file(configure_tasks: Any) -> None:
    from resumable._db.engine import embedded_database_path

    settings = resumable.configure()
    assert settings.database_url == f"sqlite:///{embedded_database_path() / 'state.db'}"
    assert settings.executor == "thread" and settings.redis_url is None


@pytest.mark.parametrize(
    "bad",
    [
        {"executor": "rocket"},
        {"database_url": "mysql://x"},
        {"database_url": ""},
        {"abort_poll_interval": 0},
        {"progress_throttle": -1},
        {"max_workers": 0},
        {"redis_url": 5},
    ],
)
def test_bad_configuration_is_rejected_and_the_old_one_stays(
    configure_tasks: Any, bad: dict[str, Any]
) -> None:
    before = configure_tasks(executor="inline")
    with pytest.raises(resumable.ConfigurationError):
        resumable.configure(**bad)
    from resumable import _config

    assert _config.current_settings()[0] == before


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": -1},
        {"timeout": 0},
        {"timeout": "10"},
        {"retries": -1},
        {"retries": 1.5},
        {"retry_delay": -0.1},
        {"scope": "public"},
        {"name": ""},
        {"keep_state": "yes"},
    ],
)
def test_bad_decorator_options_fail_at_definition_time(options: dict[str, Any]) -> None:
    with pytest.raises(resumable.ConfigurationError):

        @task(**options)
        def job() -> None: ...


@pytest.mark.parametrize("parameter", ["ctx", "options"])
def test_functions_taking_ctx_or_options_are_rejected(parameter: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def job({parameter}): pass", namespace)
    with pytest.raises(resumable.ConfigurationError, match=parameter):
        task(namespace["job"])


def test_bad_task_options_are_rejected() -> None:
    for bad in ({"timeout": -5}, {"task_key": ""}, {"task_key": 7}, {"task_name": "x" * 600}):
        with pytest.raises(resumable.ConfigurationError):
            TaskOptions(**bad)


def test_bad_call_options_write_nothing(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")

    @task
    def job(x: Any) -> None: ...

    with pytest.raises(resumable.ConfigurationError):
        job.schedule(1, options={"task_key": "k"})  # type: ignore[arg-type]
    with pytest.raises(resumable.InvalidValueError):  # worker processes need JSON
        job.schedule(object())
    assert resumable.list_tasks() == []


def test_unknown_task_name_is_a_configuration_error() -> None:
    from resumable.tasks import registered

    with pytest.raises(resumable.ConfigurationError, match="no @task named"):
        registered("never-defined-anywhere")


def test_acting_as_rejects_bad_users() -> None:
    for bad in ("", None, 5):
        with pytest.raises(resumable.ConfigurationError), resumable.acting_as(bad):  # type: ignore[arg-type]
            pass


def test_worker_executor_leaves_scheduled_tasks_pending(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")
    ran = threading.Event()

    @task
    def job(n: int) -> None:
        ran.set()

    t = job.schedule(5)
    assert t.status == "pending" and resumable.get_task(t.uuid).status == "pending"
    assert not ran.is_set()
    assert job(1).status == "success"  # a direct call still runs inline


def test_wait_times_out_with_a_typed_error(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")

    @task
    def job() -> None: ...

    t = job.schedule()
    with pytest.raises(resumable.TaskTimeoutError):
        t.wait(timeout=0.1)
    with pytest.raises(resumable.InvalidValueError):
        t.wait(timeout=-1)


# -- async tasks ------------------------------------------------------------------------


def test_async_task_sync_call_outside_a_loop(configure_tasks: Any) -> None:
    configure_tasks()
    seen: list[Any] = []

    @task
    async def fetch(n: int) -> None:
        ctx = get_context()
        await asyncio.sleep(0.01)
        ctx.update_task(progress=(n, n))
        seen.append(ctx.task_uuid)

    t = fetch(3)
    assert t.status == "success" and seen == [t.uuid] and t.progress.current == 3.0


@pytest.mark.parametrize("executor", ["thread", "inline"])
async def test_async_schedule_inside_a_running_loop_does_not_block(
    configure_tasks: Any, executor: str
) -> None:
    configure_tasks(executor=executor)
    release = asyncio.Event()
    ticks: list[int] = []

    @task(name=f"async_{executor}")
    async def wait_a_bit() -> None:
        ctx = get_context()

        async def note_cleanup() -> None:
            ticks.append(-1)

        ctx.on_cleanup(note_cleanup)
        if executor == "inline":
            await release.wait()  # only this loop can set it: we must not block it

    t = wait_a_bit.schedule()
    ticks.append(1)  # schedule() returned while the task is not done
    release.set()
    for _ in range(400):
        if (await asyncio.to_thread(t.refresh)).is_terminal:
            break
        await asyncio.sleep(0.05)
    assert t.status == "success"
    assert ticks == [1, -1]


async def test_async_task_abort_handler_runs_on_its_loop(configure_tasks: Any) -> None:
    configure_tasks(executor="inline")
    stop = asyncio.Event()
    started = asyncio.Event()

    @task
    async def loop_job() -> None:
        ctx = get_context()

        async def on_abort() -> None:
            stop.set()

        ctx.on_abort(on_abort)
        started.set()
        await stop.wait()

    t = loop_job.schedule()
    await asyncio.wait_for(started.wait(), 20)
    assert await asyncio.to_thread(t.cancel) == "aborted"
    await asyncio.wait_for(stop.wait(), 20)
    final = await asyncio.to_thread(t.wait, 20)
    assert final.status == "aborted"


def test_async_task_sync_call_inside_a_running_loop(configure_tasks: Any) -> None:
    configure_tasks()

    @task(scope=TaskScope.PRIVATE)
    async def nested() -> None:
        await asyncio.sleep(0)

    async def caller() -> str:
        return nested().status  # blocks this loop, but completes

    assert asyncio.run(caller()) == "success"
