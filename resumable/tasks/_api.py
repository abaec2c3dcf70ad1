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
from resumable.tasks._models import TaskScope, TaskStatus
from resumable.tasks._operations import CancelResult, visible, wait_for
from resumable.tasks._operations import cancel as cancel_task
from resumable.tasks._permissions import check_can_prune
from resumable.tasks._rows import TaskFilters
from resumable.tasks._task import Task

__all__ = [
    "CancelResult",
    "cancel_task",
    "count_tasks",
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


def _filters(name: Any, scope: Any, created_by: Any) -> TaskFilters:
    for value, what in ((name, "name"), (created_by, "created_by")):
        if value is not None and (not isinstance(value, str) or not value or "\x00" in value):
            raise InvalidValueError(
                f"{what} must be a non-empty str without NUL, or None, got {value!r}"
            )
    try:
        chosen = None if scope is None else TaskScope(scope)
    except (TypeError, ValueError) as exc:
        names = ", ".join(s.value for s in TaskScope)
        raise InvalidValueError(f"scope must be one of {names}, got {scope!r}") from exc
    return TaskFilters(name=name, scope=chosen, created_by=created_by)


def list_tasks(
    status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
    limit: int = 100,
    *,
    name: str | None = None,
    scope: TaskScope | str | None = None,
    created_by: str | None = None,
    offset: int = 0,
) -> list[Task]:
    """Tasks the current user may see, newest first.

    Args:
        status: Only tasks in this status (or any of these statuses).
        limit: At most this many tasks.
        name: Only tasks of this ``@task`` name.
        scope: Only tasks of this scope.
        created_by: Only tasks this user created.
        offset: Skip this many tasks first (for paging).

    Raises:
        InvalidValueError: an unknown status or scope, a limit that is not a positive
            int, or a negative offset.
    """
    statuses = _statuses(status)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidValueError(f"limit must be a positive int, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidValueError(f"offset must be an int >= 0, got {offset!r}")
    filters = _filters(name, scope, created_by)
    records = _services.current().repository.list(
        current_actor(), statuses=statuses, limit=limit, offset=offset, filters=filters
    )
    return [Task.from_record(record) for record in records]


def count_tasks(
    status: TaskStatus | str | Iterable[TaskStatus | str] | None = None,
    *,
    name: str | None = None,
    scope: TaskScope | str | None = None,
    created_by: str | None = None,
) -> int:
    """How many tasks :func:`list_tasks` would find with these filters and no limit.

    Raises:
        InvalidValueError: an unknown status or scope.
    """
    statuses = _statuses(status)
    filters = _filters(name, scope, created_by)
    return _services.current().repository.count(current_actor(), statuses=statuses, filters=filters)


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
