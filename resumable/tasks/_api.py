"""Reading, waiting on, cancelling and pruning tasks, as the current user."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.engine import Connection

from resumable._db.types import utcnow
from resumable._errors import (
    InvalidValueError,
    TaskFinishedError,
    TaskNotAbortableError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from resumable.tasks import _services
from resumable.tasks._actor import current_actor
from resumable.tasks._models import TaskRecord, TaskStatus
from resumable.tasks._permissions import can_see, cancel_action, check_can_prune
from resumable.tasks._task import Task
from resumable.tasks._transitions import ABORT_REASON_CANCEL, TERMINAL, is_terminal

CancelResult = Literal["aborted", "unsubscribed"]


def _visible(task_uuid: Any) -> TaskRecord:
    if not isinstance(task_uuid, str):
        raise TaskNotFoundError(repr(task_uuid))
    record = _services.current().repository.get(task_uuid)
    if record is None or not can_see(record, current_actor()):
        raise TaskNotFoundError(task_uuid)
    return record


def get_task(task_uuid: str) -> Task:
    """The task with ``task_uuid``, as the current user sees it.

    Raises:
        TaskNotFoundError: no such task, or the current user may not see it.
    """
    return Task.from_record(_visible(task_uuid))


def _statuses(status: Any) -> list[TaskStatus] | None:
    if status is None:
        return None
    values = [status] if isinstance(status, (str, TaskStatus)) else status
    try:
        return [TaskStatus(value) for value in values]
    except (TypeError, ValueError) as exc:
        names = ", ".join(s.value for s in TaskStatus)
        raise InvalidValueError(f"status must be one of {names}, got {status!r}") from exc


def list_tasks(
    status: TaskStatus | str | Iterable[TaskStatus | str] | None = None, limit: int = 100
) -> list[Task]:
    """Tasks the current user may see, newest first.

    Args:
        status: Only tasks in this status (or any of these statuses).
        limit: At most this many tasks.

    Raises:
        InvalidValueError: an unknown status or a limit that is not a positive int.
    """
    statuses = _statuses(status)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidValueError(f"limit must be a positive int, got {limit!r}")
    records = _services.current().repository.list(current_actor(), statuses=statuses, limit=limit)
    return [Task.from_record(record) for record in records]


def wait_for_task(task_uuid: str, timeout: float | None = None) -> Task:
    """Block until the task is terminal; return its final snapshot.

    Raises:
        TaskTimeoutError: still not terminal after ``timeout`` seconds.
        TaskNotFoundError: no such task, or the current user may not see it.
    """
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise InvalidValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    record = _visible(task_uuid)
    if not is_terminal(record.status):
        services = _services.current()
        reached = services.signals.wait_for(task_uuid, {s.value for s in TERMINAL}, timeout)
        if reached is None:
            if services.repository.get(task_uuid) is None:
                raise TaskNotFoundError(task_uuid)
            raise TaskTimeoutError(task_uuid, float(timeout or 0.0))
    return get_task(task_uuid)


def cancel_task(task_uuid: str, *, force: bool = False) -> CancelResult:
    """Abort a task, or unsubscribe the current user from a shared one.

    The decision and the change happen in one transaction holding the task's row, so
    two subscribers cancelling at once cannot both merely unsubscribe.

    Raises:
        TaskNotFoundError: no such task, or the current user may not see it.
        PermissionDeniedError: a SYSTEM task or ``force`` without admin rights.
        TaskFinishedError: the task already ended.
        TaskNotAbortableError: in progress without an abort handler.
    """
    if not isinstance(force, bool):
        raise InvalidValueError(f"force must be a bool, got {force!r}")
    actor = current_actor()
    services = _services.current()
    repository = services.repository

    def decide(
        conn: Connection, record: TaskRecord | None
    ) -> tuple[CancelResult, TaskStatus | None]:
        if record is None or not can_see(record, actor):
            raise TaskNotFoundError(task_uuid)
        action = cancel_action(record, actor, force=force)
        if is_terminal(record.status):
            raise TaskFinishedError(task_uuid, record.status.value)
        if action == "unsubscribe":
            assert actor.user_id is not None  # only users are ever unsubscribed
            repository.remove_subscriber_in(conn, task_uuid, actor.user_id)
            return "unsubscribed", None
        if record.status is TaskStatus.ABORTING:
            return "aborted", None  # already stopping: cancelling again is a no-op
        moved = repository.abort_in(conn, record, ABORT_REASON_CANCEL)
        if moved is None:
            raise TaskNotAbortableError(task_uuid)
        return "aborted", moved

    if not isinstance(task_uuid, str):
        raise TaskNotFoundError(repr(task_uuid))
    result, moved = repository.with_locked(task_uuid, decide)
    if moved is not None:
        services.signals.notify(task_uuid)
    if moved is TaskStatus.ABORTED:
        # Never started: drop its queued message too (Celery revokes it).
        services.executor.discard(task_uuid)
    return result


def prune_tasks(retention_period_days: float = 90, max_rows_per_run: int = 10_000) -> int:
    """Delete terminal tasks that ended more than ``retention_period_days`` ago.

    Oldest first, in batches, at most ``max_rows_per_run`` rows; pending, in-progress
    and aborting tasks are never deleted.

    Returns:
        The number of tasks deleted.

    Raises:
        InvalidValueError: a negative retention or a non-positive row limit.
        PermissionDeniedError: the current user is not an admin.
    """
    if (
        isinstance(retention_period_days, bool)
        or not isinstance(retention_period_days, (int, float))
        or not math.isfinite(retention_period_days)
        or retention_period_days < 0
    ):
        raise InvalidValueError(
            f"retention_period_days must be a number >= 0, got {retention_period_days!r}"
        )
    if (
        isinstance(max_rows_per_run, bool)
        or not isinstance(max_rows_per_run, int)
        or max_rows_per_run < 1
    ):
        raise InvalidValueError(
            f"max_rows_per_run must be a positive int, got {max_rows_per_run!r}"
        )
    check_can_prune(current_actor())
    cutoff = utcnow() - timedelta(days=retention_period_days)
    return _services.current().repository.prune(cutoff, max_rows_per_run)
