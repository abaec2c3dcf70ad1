"""Cancel: abort vs unsubscribe, permissions, abortability (SEMANTICS.md: Cancel)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, TaskScope, TaskStatus, acting_as, get_context, task
from resumable.tasks._models import TaskRecord
from resumable.tasks._permissions import Actor, cancel_action


@pytest.fixture
def parked(configure_tasks: Any) -> None:
    """Worker executor: scheduled tasks stay PENDING, so cancel rules apply to them."""
    configure_tasks(executor="worker")


def _record(scope: TaskScope, subscribers: list[str], created_by: str | None) -> TaskRecord:
    from datetime import datetime, timezone

    return TaskRecord(
        uuid="u",
        name="n",
        task_key="k",
        task_name=None,
        scope=scope,
        status=TaskStatus.IN_PROGRESS,
        attempt=1,
        retries=0,
        timeout=None,
        abortable=True,
        abort_reason=None,
        timeout_unenforceable=False,
        created_by=created_by,
        progress_current=None,
        progress_total=None,
        progress_fraction=None,
        progress_start_fraction=None,
        progress_updated_at=None,
        payload=None,
        error_message=None,
        exception_type=None,
        stack_trace=None,
        created_at=datetime.now(timezone.utc),
        started_at=None,
        ended_at=None,
        subscribers=subscribers,
    )


def test_cancel_decision_table() -> None:
    alice, bob = Actor("alice"), Actor("bob")
    admin = Actor("root", admin=True)
    shared2 = _record(TaskScope.SHARED, ["alice", "bob"], "alice")
    shared1 = _record(TaskScope.SHARED, ["alice"], "alice")
    assert (
        cancel_action(_record(TaskScope.PRIVATE, ["alice"], "alice"), alice, force=False) == "abort"
    )
    assert cancel_action(shared2, alice, force=False) == "unsubscribe"
    assert cancel_action(shared1, alice, force=False) == "abort"  # last subscriber
    assert cancel_action(shared2, admin, force=True) == "abort"
    assert cancel_action(shared2, Actor(), force=False) == "abort"  # the system
    assert cancel_action(_record(TaskScope.SYSTEM, [], None), admin, force=False) == "abort"
    with pytest.raises(resumable.PermissionDeniedError):
        cancel_action(shared2, bob, force=True)
    with pytest.raises(resumable.PermissionDeniedError):
        cancel_action(_record(TaskScope.SYSTEM, ["bob"], "bob"), bob, force=False)
    with pytest.raises(resumable.PermissionDeniedError):  # admin, not subscribed, no force
        cancel_action(shared2, admin, force=False)


@pytest.mark.usefixtures("parked")
def test_pending_private_task_is_aborted() -> None:
    @task
    def job() -> None: ...

    with acting_as("alice"):
        t = job.schedule()
        assert t.cancel() == "aborted"
        assert t.refresh().status == "aborted"


@pytest.mark.usefixtures("parked")
def test_shared_task_unsubscribes_until_the_last_subscriber_aborts() -> None:
    @task(scope=TaskScope.SHARED)
    def report() -> None: ...

    options = TaskOptions(task_key="r-1")
    with acting_as("alice"):
        t = report.schedule(options=options)
    with acting_as("bob"):
        assert report.schedule(options=options).uuid == t.uuid
    with acting_as("carol"):
        assert report.schedule(options=options).uuid == t.uuid
    assert resumable.get_task(t.uuid).subscribers == ["alice", "bob", "carol"]
    with acting_as("bob"):
        assert t.cancel() == "unsubscribed"
        with pytest.raises(resumable.TaskNotFoundError):  # no longer a subscriber
            t.refresh()
    with acting_as("alice"):
        assert t.cancel() == "unsubscribed"
    with acting_as("carol"):
        assert t.refresh().subscribers == ["carol"]
        assert t.cancel() == "aborted"
    assert resumable.get_task(t.uuid).status == "aborted"


@pytest.mark.usefixtures("parked")
def test_admin_force_aborts_a_shared_task_for_everyone() -> None:
    @task(scope=TaskScope.SHARED)
    def report() -> None: ...

    options = TaskOptions(task_key="r-2")
    for user in ("alice", "bob"):
        with acting_as(user):
            t = report.schedule(options=options)
    with acting_as("bob"), pytest.raises(resumable.PermissionDeniedError):
        t.cancel(force=True)
    with acting_as("root", admin=True):
        assert t.cancel(force=True) == "aborted"
    assert resumable.get_task(t.uuid).status == "aborted"


@pytest.mark.usefixtures("parked")
def test_system_task_needs_an_admin_to_cancel() -> None:
    @task(scope=TaskScope.SYSTEM)
    def nightly() -> None: ...

    with acting_as("alice"):
        t = nightly.schedule(options=TaskOptions(task_key="n"))
        with pytest.raises(resumable.PermissionDeniedError):
            t.cancel()
    with acting_as("bob"), pytest.raises(resumable.TaskNotFoundError):
        t.cancel()
    assert resumable.get_task(t.uuid).status == "pending"  # nothing changed
    with acting_as("root", admin=True):
        assert t.cancel() == "aborted"


@pytest.mark.usefixtures("tasks_db")
@pytest.mark.parametrize("options", [{}, {"abortable": False}], ids=["default", "abortable=False"])
def test_in_progress_without_abort_handler_is_not_abortable(
    gate: Any, options: dict[str, Any]
) -> None:
    @task(**options)
    def stubborn() -> None:
        gate.block()

    t = stubborn.schedule()
    gate.wait_entered()
    with pytest.raises(resumable.TaskNotAbortableError):
        t.cancel()
    assert t.refresh().status == "in_progress"
    gate.release.set()
    assert t.wait(timeout=20).status == "success"


@pytest.mark.usefixtures("tasks_db")
def test_cancel_of_a_finished_task_raises_and_changes_nothing() -> None:
    @task
    def quick() -> None: ...

    t = quick()
    with pytest.raises(resumable.TaskFinishedError):
        t.cancel()
    assert t.refresh().status == "success"


@pytest.mark.usefixtures("tasks_db")
def test_cancelling_an_aborting_task_again_is_idempotent(gate: Any) -> None:
    release = threading.Event()

    @task
    def slow_to_stop() -> None:
        ctx = get_context()
        ctx.on_abort(lambda: release.wait(20))
        gate.entered.set()
        assert ctx.abort_requested.wait(20)

    t = slow_to_stop.schedule()
    gate.wait_entered()
    assert t.cancel() == "aborted"
    assert t.refresh().status == "aborting"
    assert t.cancel() == "aborted"
    release.set()
    assert t.wait(timeout=20).status == "aborted"


def _running_until_handled(gate: Any) -> tuple[resumable.Task, threading.Event]:
    """A scheduled task, in progress, that runs until its abort handler has set the
    event returned with it (20 s at most)."""
    handled = threading.Event()

    @task
    def loop() -> None:
        get_context().on_abort(handled.set)
        gate.entered.set()
        handled.wait(20)

    t = loop.schedule()
    gate.wait_entered()
    return t, handled


@pytest.mark.usefixtures("tasks_db")
def test_cancel_reaches_the_abort_handler_of_a_running_task(gate: Any) -> None:
    t, handled = _running_until_handled(gate)
    assert t.cancel() == "aborted"
    assert handled.wait(20)
    assert t.wait(timeout=20).status == "aborted"


@pytest.mark.usefixtures("tasks_db")
def test_cancel_from_another_database_connection_is_seen_by_polling(gate: Any) -> None:
    """A cancel committed by another process only reaches the runner through polling."""
    from sqlalchemy import update

    from resumable.migrations.schema import tasks
    from resumable.tasks import _services

    t, handled = _running_until_handled(gate)
    # Simulate another process: write the abort straight into the row, notify nobody.
    from resumable._db.engine import open_database

    other = open_database(_services.current().settings.database_url)
    with other.tx.begin() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.uuid == t.uuid, tasks.c.status == "in_progress")
            .values(status="aborting", abort_reason="cancel")
        )
    other.dispose()
    assert handled.wait(20)
    assert t.wait(timeout=20).status == "aborted"


@pytest.mark.usefixtures("tasks_db")
def test_default_abort_poll_interval_is_one_second() -> None:
    assert resumable.configure().abort_poll_interval == 1.0
