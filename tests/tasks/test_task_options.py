"""TaskOptions per call, and the @task options of the task/worker boundary:
countdown, queue, retry_backoff, retry_on, abortable."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

import resumable
from resumable import TaskOptions, get_context, task
from resumable._db.types import utcnow
from resumable.migrations.schema import tasks
from resumable.tasks import _services
from resumable.tasks._runtime import run_attempt


def _row(task_uuid: str) -> Any:
    record = _services.current().repository.get(task_uuid)
    assert record is not None
    return record


def _run_due_attempt(task_uuid: str, definition: Any) -> float:
    """Make the pending task due, run one failing attempt here; the recorded wait."""
    repository = _services.current().repository
    with repository.database.auto.connect() as conn:
        conn.execute(update(tasks).where(tasks.c.uuid == task_uuid).values(not_before=None))
        conn.commit()
    failed_at = utcnow()
    assert run_attempt(_services.current(), definition, task_uuid, (), {}) == "pending"
    not_before = _row(task_uuid).not_before
    assert not_before is not None
    return float((not_before - failed_at).total_seconds())


@pytest.mark.parametrize(
    "options",
    [
        {"retries": -1},
        {"retries": 1.5},
        {"retries": True},
        {"retry_delay": -1},
        {"retry_delay": float("inf")},
        {"countdown": -0.1},
        {"countdown": "soon"},
        {"queue": ""},
        {"queue": "q" * 256},
        {"queue": "a\x00b"},
        {"queue": 7},
    ],
    ids=str,
)
def test_options_are_checked_when_built(options: dict[str, Any]) -> None:
    with pytest.raises(resumable.ConfigurationError):
        TaskOptions(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"retry_backoff": "yes"},
        {"abortable": 1},
        {"retry_on": ValueError()},
        {"retry_on": ()},
        {"retry_on": (ValueError, int)},
        {"queue": ""},
    ],
    ids=str,
)
def test_decorator_options_are_checked_at_definition(options: dict[str, Any]) -> None:
    with pytest.raises(resumable.ConfigurationError):

        @task(**options)
        def f() -> None: ...


@pytest.mark.usefixtures("tasks_db")
def test_per_call_options_override_the_decorator() -> None:
    @task(retries=0, retry_delay=5.0, timeout=100, queue="slow")
    def flaky() -> None:
        if get_context().attempt < 3:
            raise ConnectionError("try again")

    t = flaky(options=TaskOptions(retries=2, retry_delay=0.0, timeout=50, queue="fast"))
    assert t.status == "success" and t.attempt == 3 and t.timeout == 50
    assert t.queue == "fast" and _row(t.uuid).retry_delay == 0.0
    # Not set: the decorator's values hold.
    defaults = flaky.schedule(options=TaskOptions(task_name="plain"))
    row = _row(defaults.uuid)
    assert (row.retries, row.retry_delay, row.timeout, row.queue) == (0, 5.0, 100.0, "slow")
    defaults.wait(timeout=20)


@pytest.mark.usefixtures("tasks_db")
def test_queue_lands_on_the_row_and_none_is_the_default_queue() -> None:
    @task(queue="exports")
    def export() -> None: ...

    @task
    def plain() -> None: ...

    assert _row(export().uuid).queue == "exports"
    assert _row(plain().uuid).queue is None
    assert _row(plain.schedule(options=TaskOptions(queue="q2")).uuid).queue == "q2"


def test_countdown_delays_a_scheduled_task(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")  # nobody runs it: the row shows the schedule

    @task
    def later() -> None: ...

    before = utcnow()
    t = later.schedule(options=TaskOptions(countdown=3600))
    row = _row(t.uuid)
    assert row.status == "pending" and row.not_before is not None
    assert before + timedelta(seconds=3599) <= row.not_before <= utcnow() + timedelta(hours=1)
    # Not due: nobody may claim it yet.
    assert _services.current().repository.claim(t.uuid) is None


@pytest.mark.usefixtures("tasks_db")
def test_countdown_delays_the_start_under_threads() -> None:
    @task
    def soon() -> None: ...

    t = soon.schedule(options=TaskOptions(countdown=0.5)).wait(timeout=20)
    assert t.status == "success"
    assert t.started_at is not None
    assert (t.started_at - t.created_at).total_seconds() >= 0.45


@pytest.mark.usefixtures("tasks_db")
def test_a_direct_call_with_countdown_waits_then_runs() -> None:
    @task
    def soon() -> str:
        return "ran"

    started = time.monotonic()
    t = soon(options=TaskOptions(countdown=0.3))
    assert t.status == "success" and t.result == "ran"
    assert time.monotonic() - started >= 0.25
    assert t.started_at is not None and (t.started_at - t.created_at).total_seconds() >= 0.25


@pytest.mark.usefixtures("tasks_db")
def test_a_direct_call_cancelled_during_its_countdown_ends_aborted() -> None:
    @task
    def never() -> None:
        raise AssertionError("must not start")

    outcome: list[resumable.Task] = []
    caller = threading.Thread(
        target=lambda: outcome.append(never(options=TaskOptions(countdown=60)))
    )
    caller.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pending = resumable.list_tasks(name=never.name)
        if pending:
            break
        time.sleep(0.02)
    assert pending[0].cancel() == "aborted"
    caller.join(20)
    assert outcome and outcome[0].status == "aborted"


@pytest.mark.usefixtures("tasks_db")
def test_retry_backoff_grows_the_recorded_waits() -> None:
    waits: list[float] = []

    @task(retries=4, retry_delay=10.0, retry_backoff=True)
    def down() -> None:
        raise ConnectionError("down")

    # Run the attempts here, one by one (no sleeping through the waits): each failed
    # attempt records when the next may start, and those moments tell the waits.
    t = down.schedule(options=TaskOptions(countdown=3600))
    for attempt in range(1, 5):
        waits.append(_run_due_attempt(t.uuid, down.definition))
        assert _row(t.uuid).attempt == attempt + 1
    # 10 * 2**(n-1) plus jitter of up to one base (10 s).
    for n, wait in enumerate(waits, start=1):
        assert 10 * 2 ** (n - 1) - 1 <= wait <= 10 * 2 ** (n - 1) + 10 + 1, waits
    assert waits == sorted(waits)
    t.cancel()


@pytest.mark.usefixtures("tasks_db")
def test_without_backoff_every_wait_is_the_delay() -> None:
    @task(retries=2, retry_delay=30.0)
    def down() -> None:
        raise ConnectionError("down")

    t = down.schedule(options=TaskOptions(countdown=3600))
    assert 29 <= _run_due_attempt(t.uuid, down.definition) <= 31
    t.cancel()


@pytest.mark.usefixtures("tasks_db")
def test_retry_on_retries_only_those_exceptions() -> None:
    raised: list[type[BaseException]] = []
    plan = [TimeoutError, ConnectionResetError, KeyError]

    @task(retries=5, retry_on=(TimeoutError, ConnectionError))
    def picky() -> None:
        kind = plan[get_context().attempt - 1]
        raised.append(kind)
        raise kind("boom")

    t = picky()
    # TimeoutError and a ConnectionError subclass are retried; KeyError fails at once.
    assert t.status == "failure" and t.attempt == 3 and t.exception_type == "KeyError"
    assert raised == plan


@pytest.mark.usefixtures("tasks_db")
def test_retry_on_a_single_class() -> None:
    @task(retries=3, retry_on=ValueError)
    def wrong() -> None:
        raise TypeError("not retried")

    t = wrong()
    assert t.status == "failure" and t.attempt == 1


# Without abortable=True (and without an abort handler) a running task refuses a
# cancel: test_task_cancel.py, test_in_progress_without_abort_handler_is_not_abortable.
@pytest.mark.usefixtures("tasks_db")
@pytest.mark.parametrize("force", [False, True])
def test_an_abortable_task_is_cancelled_without_a_handler(gate: Any, force: bool) -> None:
    seen: list[bool] = []

    @task(abortable=True)
    def watcher() -> None:
        ctx = get_context()
        gate.block()
        seen.append(ctx.abort_requested.wait(20))

    t = watcher.schedule()
    gate.wait_entered()
    assert t.refresh().status == "in_progress"
    action = t.cancel(force=force)
    assert action == "aborted" and action is resumable.CancelAction.ABORTED
    assert t.refresh().status in ("aborting", "aborted")
    gate.release.set()
    assert t.wait(timeout=20).status == "aborted"
    assert seen == [True]


@pytest.mark.usefixtures("tasks_db")
def test_an_abortable_task_that_raises_after_the_abort_ends_aborted(gate: Any) -> None:
    @task(abortable=True, retries=2)
    def stopper() -> None:
        gate.block()
        if get_context().abort_requested.wait(20):
            raise RuntimeError("stopped on request")

    t = stopper.schedule()
    gate.wait_entered()
    assert t.cancel() == "aborted"
    gate.release.set()
    done = t.wait(timeout=20)
    assert done.status == "aborted" and done.attempt == 1


@pytest.mark.usefixtures("tasks_db")
def test_an_abortable_task_times_out_without_a_handler() -> None:
    @task(abortable=True, timeout=0.2)
    def slow() -> None:
        get_context().abort_requested.wait(20)

    t = slow()
    assert t.status == "timed_out"
