"""Timeouts (SEMANTICS.md: Timeouts)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from resumable import TaskOptions, get_context, task

pytestmark = pytest.mark.usefixtures("tasks_db")


def test_timeout_with_abort_handler_gives_timed_out_after_handlers() -> None:
    order: list[str] = []

    @task(timeout=0.3)
    def slow() -> None:
        ctx = get_context()
        ctx.on_cleanup(lambda: order.append("cleanup"))
        ctx.on_abort(lambda: order.append("abort"))
        assert ctx.abort_requested.wait(20)
        order.append("body saw abort")

    t = slow()
    assert t.status == "timed_out" and t.error_message == "timed out after 0.3 s"
    assert order[0] == "abort" and order[-1] == "cleanup"
    assert t.ended_at is not None


def test_timeout_handler_failure_gives_failure() -> None:
    @task(timeout=0.2)
    def slow() -> None:
        ctx = get_context()

        @ctx.on_abort
        def stop() -> None:
            raise RuntimeError("stop failed")

        assert ctx.abort_requested.wait(20)

    t = slow()
    assert t.status == "failure" and "stop failed" in (t.error_message or "")


def test_options_timeout_overrides_decorator_timeout() -> None:
    @task(timeout=600)
    def slow() -> None:
        ctx = get_context()
        ctx.on_abort(lambda: None)
        assert ctx.abort_requested.wait(20)

    started = time.monotonic()
    t = slow(options=TaskOptions(timeout=0.2))
    assert t.status == "timed_out" and t.timeout == 0.2
    assert time.monotonic() - started < 20


def test_no_timeout_anywhere_means_none() -> None:
    @task
    def quick() -> None: ...

    assert quick().timeout is None


def test_clock_starts_at_in_progress(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")  # stays pending: no clock running

    @task(timeout=0.2)
    def parked() -> None: ...

    t = parked.schedule()
    time.sleep(0.5)  # longer than the timeout, yet pending tasks never time out
    assert t.refresh().status == "pending"


def test_timeout_without_abort_handler_warns_and_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    seen: list[Any] = []

    @task(timeout=0.1)
    def stubborn() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if get_context().task.timeout_unenforceable:
                seen.append(get_context().task.status)
                break
            time.sleep(0.02)
        release.wait(0)

    with caplog.at_level(logging.WARNING, logger="resumable.tasks"):
        t = stubborn()
    assert seen == ["in_progress"]  # the record showed the warning while it ran on
    assert t.status == "success" and t.timeout_unenforceable
    assert any("no abort handler" in r.getMessage() for r in caplog.records)
