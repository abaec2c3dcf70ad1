"""Races between cancel, finish and timeout: first writer wins, never an impossible state."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, get_context, task

pytestmark = pytest.mark.usefixtures("tasks_db")

ROUNDS = 25


def _cancel(t: Any) -> str:
    try:
        return t.cancel()  # type: ignore[no-any-return]
    except resumable.TaskFinishedError:
        return "finished"


def _cancel_racing_finish() -> tuple[str, str]:
    barrier = threading.Barrier(2)
    aborted_calls: list[int] = []

    @task(name="race_finish")
    def work() -> None:
        ctx = get_context()
        ctx.on_abort(lambda: aborted_calls.append(1))
        barrier.wait(20)  # the test cancels right now, while we return

    t = work.schedule()
    barrier.wait(20)
    said = _cancel(t)
    final = t.wait(timeout=20).status
    assert final in ("success", "aborted")
    assert (said == "aborted") == (final == "aborted")
    assert (said == "finished") == (final == "success")
    assert len(aborted_calls) <= 1
    if aborted_calls:
        assert final == "aborted"
    return said, final.value


def test_cancel_racing_finish() -> None:
    outcomes = Counter(_cancel_racing_finish() for _ in range(ROUNDS))
    assert sum(outcomes.values()) == ROUNDS


def _cancel_racing_timeout() -> None:
    barrier = threading.Barrier(2)
    aborted_calls: list[int] = []

    @task(name="race_timeout", timeout=0.05)
    def work() -> None:
        ctx = get_context()
        ctx.on_abort(lambda: aborted_calls.append(1))
        barrier.wait(20)
        assert ctx.abort_requested.wait(20)

    t = work.schedule()
    barrier.wait(20)
    said = _cancel(t)
    final = t.wait(timeout=20)
    assert said in ("aborted", "finished")
    assert final.status in ("aborted", "timed_out")
    assert aborted_calls == [1]  # whoever won, the handlers ran exactly once


def test_cancel_racing_timeout() -> None:
    for _ in range(ROUNDS):
        _cancel_racing_timeout()


def _finish_racing_timeout() -> None:
    handled: list[int] = []

    @task(name="race_deadline", timeout=0.02)
    def work() -> None:
        ctx = get_context()
        ctx.on_abort(lambda: handled.append(1))
        ctx.abort_requested.wait(0.02)  # return at about the deadline

    final = work()
    assert final.status in ("success", "timed_out")
    if final.status == "success":
        assert final.error_message is None
    if handled:
        assert final.status == "timed_out"


def test_finish_racing_timeout() -> None:
    for _ in range(ROUNDS):
        _finish_racing_timeout()


def test_many_cancellers_of_one_shared_task_abort_it_exactly_once(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")

    @task(scope="shared", name="race_shared")
    def report() -> None: ...

    users = [f"u{i}" for i in range(12)]
    options = TaskOptions(task_key="k")
    for user in users:
        with resumable.acting_as(user):
            t = report.schedule(options=options)
    results: list[str] = []
    barrier = threading.Barrier(len(users))

    def cancel(user: str) -> None:
        with resumable.acting_as(user):
            barrier.wait(20)
            results.append(t.cancel())

    threads = [threading.Thread(target=cancel, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == ["aborted"] + ["unsubscribed"] * (len(users) - 1)
    assert resumable.get_task(t.uuid).status == "aborted"
