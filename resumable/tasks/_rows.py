"""The task row's shapes: what an insert needs, a row read back as a record, the values
a move writes, and the WHERE of a listing (pure: no connection, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
from sqlalchemy import and_, exists, or_
from sqlalchemy.engine import Row

from resumable.migrations.schema import task_subscribers, tasks
from resumable.store._values import decode_value
from resumable.tasks._models import TaskRecord, TaskScope, TaskStatus
from resumable.tasks._permissions import Actor
from resumable.tasks._transitions import is_terminal

_t = tasks.c
_s = task_subscribers.c


@attrs.frozen(kw_only=True)
class NewTask:
    """Everything needed to insert a task row."""

    uuid: str
    name: str
    task_key: str | None
    task_name: str | None
    scope: TaskScope
    active_dedup_key: str | None
    retries: int
    retry_delay: float
    timeout: float | None
    created_by: str | None
    arguments: str | None
    kill_after: float | None = None
    executor: str | None = None
    celery_task_id: str | None = None
    queue: str | None = None
    not_before: datetime | None = None
    abortable: bool = False


# Dict lookups instead of Enum calls: every record read converts both.
_SCOPES = {scope.value: scope for scope in TaskScope}
_STATUSES = {status.value: status for status in TaskStatus}


def _record(row: Row[Any] | Mapping[str, Any], subscribers: list[str]) -> TaskRecord:
    m = row if isinstance(row, Mapping) else row._mapping
    return TaskRecord(
        uuid=m["uuid"],
        name=m["name"],
        task_key=m["task_key"],
        task_name=m["task_name"],
        scope=_SCOPES.get(m["scope"]) or TaskScope(m["scope"]),
        status=_STATUSES.get(m["status"]) or TaskStatus(m["status"]),
        attempt=int(m["attempt"]),
        retries=int(m["retries"]),
        timeout=m["timeout"],
        abortable=bool(m["abortable"]),
        abort_reason=m["abort_reason"],
        timeout_unenforceable=bool(m["timeout_unenforceable"]),
        created_by=m["created_by"],
        progress_current=m["progress_current"],
        progress_total=m["progress_total"],
        progress_fraction=m["progress_fraction"],
        progress_start_fraction=m["progress_start_fraction"],
        progress_updated_at=m["progress_updated_at"],
        payload=None if m["payload"] is None else json.loads(m["payload"]),
        error_message=m["error_message"],
        exception_type=m["exception_type"],
        stack_trace=m["stack_trace"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        not_before=m["not_before"],
        worker_id=m["worker_id"],
        celery_task_id=m["celery_task_id"],
        subscribers=subscribers,
        retry_delay=float(m["retry_delay"] or 0.0),
        queue=m["queue"],
        result=None if m["result"] is None else decode_value(m["result"]),
    )


@attrs.frozen
class TaskFilters:
    """Optional equality filters of a listing (None: any)."""

    name: str | None = None
    scope: TaskScope | None = None
    created_by: str | None = None


def _conditions(
    actor: Actor, statuses: Iterable[TaskStatus] | None, filters: TaskFilters | None
) -> list[Any]:
    """WHERE clauses of a listing: the filters, and what ``actor`` may see."""
    found: list[Any] = []
    if statuses is not None:
        found.append(_t.status.in_([s.value for s in statuses]))
    if filters is not None:
        if filters.name is not None:
            found.append(_t.name == filters.name)
        if filters.scope is not None:
            found.append(_t.scope == filters.scope.value)
        if filters.created_by is not None:
            found.append(_t.created_by == filters.created_by)
    if not actor.privileged:
        subscribed = exists().where(_s.task_uuid == _t.uuid, _s.user_id == actor.user_id)
        found.append(
            or_(
                and_(_t.scope == TaskScope.PRIVATE.value, _t.created_by == actor.user_id),
                and_(_t.scope != TaskScope.PRIVATE.value, subscribed),
            )
        )
    return found


def _move_values(target: TaskStatus, now: datetime, values: Mapping[str, Any]) -> dict[str, Any]:
    assignments: dict[str, Any] = {"status": target.value, "updated_at": now, **values}
    if is_terminal(target):
        # Frees the dedup identity in the very statement that ends the task.
        assignments["active_dedup_key"] = None
        assignments["ended_at"] = now
    if target is TaskStatus.IN_PROGRESS:
        assignments["started_at"] = now
        # Where this attempt starts from: readers compute the ETA from this attempt's
        # own pace (a resumed attempt does not redo what earlier ones did).
        assignments["progress_start_fraction"] = _t.progress_fraction
        # Claiming is the first heartbeat: the lease runs from here.
        assignments["heartbeat_at"] = now
    if target is TaskStatus.ABORTING:
        # Starts the kill_after clock of a hard stop.
        assignments["aborting_since"] = now
    return assignments
