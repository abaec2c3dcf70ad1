"""The public task API as users write it, checked by mypy --strict, never run.

``assert_type`` pins the precise types users get; a ``# type: ignore[code]`` marks a
misuse that must stay a type error. No ``test_`` prefix: pytest does not collect it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pendulum
from typing_extensions import assert_type

import resumable
from resumable import (
    CancelAction,
    Progress,
    Task,
    TaskContext,
    TaskFunction,
    TaskOptions,
    TaskScope,
    TaskStatus,
    get_context,
    task,
)


@task
def export(n: int) -> None:
    ctx = get_context()
    assert_type(ctx, TaskContext)
    assert_type(ctx.user, str | None)
    assert_type(ctx.store.get("done", 0), Any)
    ctx.update_task(progress=(1, n), payload={"last": 0})
    ctx.update_task(progress=0.5)
    ctx.update_task(progress=3)

    @ctx.on_cleanup
    def cleanup() -> None: ...

    @ctx.on_abort
    def stop() -> None: ...

    assert_type(ctx.task, Task)


@task(name="shared", scope=TaskScope.SHARED, timeout=60, retries=2, retry_delay=1.0)
async def shared_export(day: str) -> None: ...


@task(
    name="billing.totals",
    retries=3,
    retry_delay=1.0,
    retry_backoff=True,
    retry_on=(ConnectionError, TimeoutError),
    queue="billing",
    abortable=True,
    kill_after=30,
    keep_state=True,
)
def totals(month: str) -> dict[str, int]:
    return {"total": 1}


async def async_usage(t: Task) -> None:
    assert_type(await t.arefresh(), Task)
    assert_type(await t.await_done(timeout=30), Task)
    assert_type(await t.acancel(force=False), CancelAction)


def usage() -> None:
    resumable.configure(database_url="sqlite:///tasks.db", redis_url=None, executor="thread")
    typed: TaskFunction[[int], None] = export
    assert typed is export
    t = export(10)
    assert_type(t, Task)
    t = export.schedule(10, options=TaskOptions(task_key="k", task_name="K", timeout=600))
    assert_type(t.wait(timeout=30), Task)
    assert_type(t.refresh(), Task)
    assert_type(t.cancel(force=False), CancelAction)
    assert t.cancel() == "aborted"
    assert_type(t.result, Any)
    assert_type(t.queue, str | None)
    t = totals.schedule(
        "2026-11",
        options=TaskOptions(retries=1, retry_delay=2.0, countdown=60, queue="urgent", kill_after=5),
    )
    assert_type(t.status, TaskStatus)
    assert_type(t.progress, Progress)
    assert_type(t.progress.eta_seconds, float | None)
    assert_type(t.subscribers, list[str])
    assert_type(t.created_at, pendulum.DateTime)
    assert_type(t.ended_at, pendulum.DateTime | None)
    created: datetime = t.created_at  # still a datetime for code written against one
    assert_type(t.created_at.diff_for_humans(), str)
    assert_type(t.progress.eta_at(created), float | None)
    assert_type(resumable.get_task(t.uuid), Task)
    assert_type(resumable.list_tasks(status=None, limit=100), list[Task])
    assert_type(resumable.prune_tasks(retention_period_days=90, max_rows_per_run=10_000), int)
    assert_type(resumable.wait_for_task(t.uuid, timeout=30), Task)
    assert_type(resumable.cancel_task(t.uuid, force=False), CancelAction)
    assert_type(resumable.count_tasks(status="pending"), int)
    with resumable.acting_as("alice", admin=False):
        shared_export.schedule("2026-11-21", options=TaskOptions(task_key="d"))
    task(timeout=1)(lambda: None)
    task(retries="2")  # type: ignore[call-overload]
    task(retry_on=ValueError)(lambda: None)
    task(retry_on=(ValueError,))(lambda: None)
    TaskOptions("k")  # type: ignore[call-arg]
