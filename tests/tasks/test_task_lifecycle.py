"""Lifecycle, error fields and handlers (SEMANTICS.md: Lifecycle, Handlers, Errors)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, TaskStatus, get_context, task
from resumable.tasks._transitions import (
    ALLOWED,
    TERMINAL,
    can_move,
    sources_of,
    status_after_abort,
)

pytestmark = pytest.mark.usefixtures("tasks_db")


def test_transition_table_matches_the_lifecycle_diagram() -> None:
    s = TaskStatus
    assert can_move(s.PENDING, s.IN_PROGRESS) and can_move(s.PENDING, s.ABORTED)
    assert not can_move(s.PENDING, s.SUCCESS)
    assert ALLOWED[s.IN_PROGRESS] == {s.SUCCESS, s.FAILURE, s.ABORTING, s.PENDING}
    assert ALLOWED[s.ABORTING] == {s.ABORTED, s.TIMED_OUT, s.FAILURE}
    assert {s.SUCCESS, s.FAILURE, s.ABORTED, s.TIMED_OUT} == TERMINAL
    assert all(not ALLOWED[t] for t in TERMINAL)
    assert set(sources_of(s.FAILURE)) == {s.IN_PROGRESS, s.ABORTING}
    assert status_after_abort("cancel", False) is s.ABORTED
    assert status_after_abort("timeout", False) is s.TIMED_OUT
    assert status_after_abort("timeout", True) is s.FAILURE


def test_status_is_a_str_enum() -> None:
    assert TaskStatus.SUCCESS == "success"
    assert [s.value for s in TaskStatus] == [
        "pending",
        "in_progress",
        "aborting",
        "success",
        "failure",
        "aborted",
        "timed_out",
    ]


def test_sync_call_runs_inline_and_returns_terminal_task() -> None:
    seen: dict[str, Any] = {}

    @task
    def add(a: int, b: int) -> None:
        ctx = get_context()
        seen["thread"] = threading.current_thread()
        seen["status"] = ctx.task.status
        seen["attempt"] = ctx.attempt

    t = add(1, 2, options=TaskOptions(task_name="Adding"))
    assert t.status == "success"
    assert seen == {"thread": threading.current_thread(), "status": "in_progress", "attempt": 1}
    assert t.name == f"{__name__}.{add.__qualname__}" == add.name
    assert t.task_name == "Adding" and t.attempt == 1
    assert t.created_at <= t.started_at <= t.ended_at  # type: ignore[operator]
    assert t.error_message is None and t.exception_type is None and t.stack_trace is None
    assert resumable.get_task(t.uuid).status == "success"


def test_schedule_returns_pending_and_runs_on_a_worker_thread() -> None:
    seen: list[threading.Thread] = []

    @task
    def where() -> None:
        seen.append(threading.current_thread())

    t = where.schedule()
    assert t.status in ("pending", "in_progress", "success")
    assert t.wait(timeout=20).status == "success"
    assert seen and seen[0] is not threading.current_thread()


def test_exception_gives_failure_with_message_type_trace_and_cleanup_still_runs() -> None:
    cleaned = threading.Event()

    @task
    def broken() -> None:
        get_context().on_cleanup(cleaned.set)
        raise KeyError("no such row")

    t = broken()
    assert t.status == "failure"
    assert t.exception_type == "KeyError"
    assert "no such row" in (t.error_message or "")
    assert "Traceback" in (t.stack_trace or "") and "broken" in (t.stack_trace or "")
    assert cleaned.is_set()


def test_cleanup_handlers_run_lifo_on_success() -> None:
    order: list[int] = []

    @task
    def work() -> None:
        ctx = get_context()
        for i in range(3):
            ctx.on_cleanup(lambda i=i: order.append(i))

    assert work().status == "success"
    assert order == [2, 1, 0]


def test_every_handler_runs_and_failures_are_combined() -> None:
    order: list[str] = []

    @task
    def work() -> None:
        ctx = get_context()

        @ctx.on_cleanup
        def first() -> None:
            order.append("first")
            raise ValueError("first broke")

        @ctx.on_cleanup
        def second() -> None:
            order.append("second")

        @ctx.on_cleanup
        def third() -> None:
            order.append("third")
            raise OSError("third broke")

    t = work()
    assert order == ["third", "second", "first"]
    assert t.status == "failure"
    assert "third broke" in (t.error_message or "") and "first broke" in (t.error_message or "")
    assert t.exception_type == "OSError"  # the first failure to happen


def test_body_error_and_handler_error_are_both_reported() -> None:
    @task
    def work() -> None:
        get_context().on_cleanup(lambda: 1 / 0)
        raise RuntimeError("body broke")

    t = work()
    assert t.status == "failure" and t.exception_type == "RuntimeError"
    assert "body broke" in (t.error_message or "")
    assert "ZeroDivisionError" in (t.error_message or "")


def test_abort_handlers_run_lifo_before_cleanup(gate: Any) -> None:
    order: list[str] = []

    @task
    def work() -> None:
        ctx = get_context()
        ctx.on_cleanup(lambda: order.append("cleanup"))
        ctx.on_abort(lambda: order.append("abort-1"))
        ctx.on_abort(lambda: order.append("abort-2"))
        gate.entered.set()
        assert ctx.abort_requested.wait(20)

    t = work.schedule()
    gate.wait_entered()
    assert t.cancel() == "aborted"
    assert t.wait(timeout=20).status == "aborted"
    assert order == ["abort-2", "abort-1", "cleanup"]


def test_abort_handler_failure_gives_failure(gate: Any) -> None:
    @task
    def work() -> None:
        ctx = get_context()

        @ctx.on_abort
        def stop() -> None:
            raise RuntimeError("could not stop the remote job")

        gate.entered.set()
        assert ctx.abort_requested.wait(20)

    t = work.schedule()
    gate.wait_entered()
    assert t.cancel() == "aborted"
    done = t.wait(timeout=20)
    assert done.status == "failure"
    assert "could not stop the remote job" in (done.error_message or "")


def test_task_aborted_while_pending_never_starts(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")  # nobody runs it: it stays pending
    started = threading.Event()

    @task
    def never() -> None:
        started.set()

    t = never.schedule()
    assert t.status == "pending"
    assert t.cancel() == "aborted"
    assert t.refresh().status == "aborted" and t.ended_at is not None
    # Even a runner that picks the task up afterwards does not start it.
    from resumable.tasks import _services, registered
    from resumable.tasks._runtime import run_attempt

    assert run_attempt(_services.current(), registered(never.name), t.uuid, (), {}) is None
    assert not started.is_set()


def test_get_context_outside_a_task_raises() -> None:
    with pytest.raises(resumable.NotInTaskError):
        get_context()


def test_ctx_task_and_user() -> None:
    seen: dict[str, Any] = {}

    @task
    def who() -> None:
        ctx = get_context()
        seen["user"] = ctx.user
        seen["uuid"] = ctx.task.uuid

    with resumable.acting_as("alice"):
        t = who()
    assert seen == {"user": "alice", "uuid": t.uuid}
    assert t.subscribers == ["alice"] and t.created_by == "alice"


def test_handlers_can_read_the_context() -> None:
    seen: list[str] = []

    @task
    def work() -> None:
        get_context().on_cleanup(lambda: seen.append(get_context().task_uuid))

    t = work()
    assert seen == [t.uuid]
