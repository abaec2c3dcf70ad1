"""Retries that resume from ctx.store (SEMANTICS.md: Lifecycle, retries)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, get_context, task
from resumable.tasks import _services
from resumable.tasks._identity import state_scope
from resumable.tasks._models import TaskScope


def _items_task(name: str, processed: Counter[int], fail_at: set[int], **options: Any) -> Any:
    """A task over items 0..n-1 that checkpoints each one and fails once at each of
    ``fail_at`` (on the first attempt that reaches it)."""

    @task(name=name, **options)
    def process(n: int) -> None:
        ctx = get_context()
        for i in range(ctx.store.get("next", 0), n):
            if i in fail_at:
                fail_at.discard(i)
                raise RuntimeError(f"item {i} failed")
            processed[i] += 1
            ctx.store.set("next", i + 1)
            ctx.update_task(progress=(i + 1, n))

    return process


@pytest.mark.usefixtures("tasks_db")
def test_sync_call_retries_inline_and_resumes_each_item_exactly_once() -> None:
    processed: Counter[int] = Counter()
    process = _items_task("items_sync", processed, {3, 7}, retries=2)
    t = process(10)
    assert t.status == "success" and t.attempt == 3
    assert processed == Counter(range(10))  # every item exactly once
    assert t.error_message is None  # cleared by the successful attempt


@pytest.mark.usefixtures("tasks_db")
def test_scheduled_task_retries_after_delay_with_same_uuid() -> None:
    processed: Counter[int] = Counter()
    process = _items_task("items_scheduled", processed, {2}, retries=1, retry_delay=0.05)
    t = process.schedule(6)
    done = t.wait(timeout=30)
    assert done.uuid == t.uuid and done.status == "success" and done.attempt == 2
    assert processed == Counter(range(6))


@pytest.mark.usefixtures("tasks_db")
def test_out_of_retries_gives_failure_with_the_last_error() -> None:
    attempts: list[int] = []

    @task(retries=2)
    def always_broken() -> None:
        attempts.append(get_context().attempt)
        raise ValueError(f"attempt {attempts[-1]}")

    t = always_broken()
    assert attempts == [1, 2, 3]
    assert t.status == "failure" and t.attempt == 3 and t.error_message == "attempt 3"


@pytest.mark.usefixtures("tasks_db")
def test_keyed_rerun_after_failure_resumes_and_success_clears_state() -> None:
    processed: Counter[int] = Counter()
    process = _items_task("items_keyed", processed, {4})
    options = TaskOptions(task_key="batch-1")
    first = process(8, options=options)
    assert first.status == "failure"
    second = process(8, options=options)
    assert second.uuid != first.uuid and second.status == "success"
    assert processed == Counter(range(8))
    # SUCCESS cleared the state: a third run starts from the beginning.
    third = process(8, options=options)
    assert third.status == "success"
    assert processed == Counter(dict.fromkeys(range(8), 2))


@pytest.mark.usefixtures("tasks_db")
def test_keep_state_keeps_the_store_after_success() -> None:
    @task(keep_state=True)
    def remember() -> None:
        ctx = get_context()
        ctx.store.set("runs", ctx.store.get("runs", 0) + 1)

    options = TaskOptions(task_key="k")
    remember(options=options)
    remember(options=options)
    namespace, key = state_scope(remember.name, TaskScope.PRIVATE, "k", None, "unused")
    assert _services.current().store.scope(namespace, key).get("runs") == 2


@pytest.mark.usefixtures("tasks_db")
def test_state_is_scoped_per_identity() -> None:
    seen: list[Any] = []

    @task(keep_state=True)
    def peek() -> None:
        ctx = get_context()
        seen.append(ctx.store.get("who"))
        ctx.store.set("who", ctx.user)

    options = TaskOptions(task_key="same")
    with resumable.acting_as("alice"):
        peek(options=options)
    with resumable.acting_as("bob"):
        peek(options=options)  # PRIVATE: bob's task is not alice's
    peek()  # unkeyed: a fresh scope
    assert seen == [None, None, None]


@pytest.mark.usefixtures("tasks_db")
def test_an_older_attempt_can_no_longer_write() -> None:
    handles: list[Any] = []

    @task(retries=1)
    def flaky() -> None:
        ctx = get_context()
        handles.append(ctx.store)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt dies")

    assert flaky().status == "success"
    with pytest.raises(resumable.StaleAttemptError):
        handles[0].set("late", 1)


@pytest.mark.usefixtures("tasks_db")
def test_cancel_while_waiting_for_a_retry_aborts(gate: Any) -> None:
    tries: list[int] = []
    failed = threading.Event()

    @task(retries=3, retry_delay=30)
    def slow_retry() -> None:
        tries.append(1)
        failed.set()
        raise RuntimeError("fails")

    t = slow_retry.schedule()
    assert failed.wait(20)
    deadline_reached = t.refresh()
    for _ in range(200):
        if deadline_reached.status == "pending":
            break
        deadline_reached = t.refresh()
        failed.wait(0.01)
    assert deadline_reached.status == "pending" and deadline_reached.attempt == 2
    assert t.cancel() == "aborted"
    assert t.refresh().status == "aborted"
    assert tries == [1]
