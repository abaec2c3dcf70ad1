"""Reading, listing, waiting on, cancelling and pruning tasks, as the current user."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from resumable._db.types import utcnow
from resumable._errors import InvalidValueError
from resumable.tasks import _services
from resumable.tasks._actor import current_actor
from resumable.tasks._models import TaskStatus
from resumable.tasks._operations import CancelResult, visible, wait_for
from resumable.tasks._operations import cancel as cancel_task
from resumable.tasks._permissions import check_can_prune
from resumable.tasks._task import Task

__all__ = [
    "CancelResult",
    "cancel_task",
    "get_task",
    "list_tasks",
    "prune_tasks",
    "wait_for_task",
]


def get_task(task_uuid: str) -> Task:
    """The task with ``task_uuid``, as the current user sees it.

    Raises:
        TaskNotFoundError: no such task, or the current user may not see it.
    """
    return Task.from_record(visible(task_uuid))


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
    return Task.from_record(wait_for(task_uuid, timeout))


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
