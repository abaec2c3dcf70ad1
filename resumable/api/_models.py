"""The typed request and response bodies of the REST API (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from resumable.api._tokens import ApiUser
from resumable.tasks import CancelAction, Task, TaskScope, TaskStatus


class ProgressOut(BaseModel):
    """How far a task got; each field is null when unknown."""

    current: float | None = Field(None, description="Items done.")
    total: float | None = Field(None, description="Items overall.")
    fraction: float | None = Field(None, description="Share done, 0..1.")
    eta_seconds: float | None = Field(
        None, description="Seconds left, computed by the library when the task is read."
    )


class TaskOut(BaseModel):
    """One task, as the caller may see it. Times are ISO 8601 in UTC."""

    uuid: str
    name: str = Field(description="The @task name.")
    task_key: str | None
    task_name: str | None
    scope: TaskScope
    status: TaskStatus
    result: Any = Field(None, description="The return value once the task succeeded.")
    attempt: int
    progress: ProgressOut
    payload: dict[str, Any] | None
    error_message: str | None
    exception_type: str | None
    stack_trace: str | None
    subscribers: list[str]
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None = Field(
        description="From the start of the last attempt to its end (or to now)."
    )
    timeout: float | None
    timeout_unenforceable: bool
    cancellable: bool = Field(description="Whether the caller may cancel the task now.")
    cancel_blocked_reason: str | None = Field(
        description="Why the caller may not cancel it (null when cancellable)."
    )


class TaskListOut(BaseModel):
    """A page of tasks, newest first, and how many match overall."""

    count: int = Field(description="Tasks matching the filters, all pages together.")
    result: list[TaskOut]


class StatusOut(BaseModel):
    """The status of one task."""

    status: TaskStatus


class CancelIn(BaseModel):
    """Body of a cancel request."""

    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        False, strict=True, description="Abort a shared task for every subscriber (admins)."
    )


class CancelOut(BaseModel):
    """What a cancel did: aborted the task, or only unsubscribed the caller."""

    action: CancelAction


class StoreScopeOut(BaseModel):
    """The live keys of one checkpoint-store scope and their values."""

    namespace: str
    scope_key: str
    values: dict[str, Any]


class HealthOut(BaseModel):
    """The server answers."""

    status: Literal["ok"] = "ok"


class ErrorOut(BaseModel):
    """Why a request failed."""

    detail: str


def _utc(moment: datetime | None) -> datetime | None:
    # Plain datetimes in UTC whatever the library returns (pendulum or stdlib).
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond,
        tzinfo=timezone.utc,
    )  # fmt: skip


def cancel_blocked_reason(task: Task, user: ApiUser) -> str | None:
    """Why ``user`` may not cancel ``task`` now, or None when a cancel would succeed.

    Mirrors the library's cancel rules (SEMANTICS.md), so the page can disable the
    button and say why; the library still decides when the request arrives.
    """
    if task.is_terminal:
        return f"already ended ({task.status.value})"
    if task.scope is TaskScope.SYSTEM and not user.admin:
        return "only admins may cancel a SYSTEM task"
    others = [u for u in task.subscribers if u != user.user_id]
    if task.scope is TaskScope.SHARED and others:
        if user.user_id in task.subscribers:
            return None  # unsubscribes the caller: always possible
        return "not subscribed to this shared task (an admin may force-cancel it)"
    if task.status is TaskStatus.ABORTING:
        return "already being aborted"
    if task.status is TaskStatus.IN_PROGRESS and not task.abortable:
        return "running without an abort handler: it cannot be aborted"
    return None


def task_out(task: Task, user: ApiUser) -> TaskOut:
    """The response body of ``task`` as ``user`` sees it."""
    reason = cancel_blocked_reason(task, user)
    created = _utc(task.created_at)
    assert created is not None
    return TaskOut(
        uuid=task.uuid,
        name=task.name,
        task_key=task.task_key,
        task_name=task.task_name,
        scope=task.scope,
        status=task.status,
        result=task.result,
        attempt=task.attempt,
        progress=ProgressOut(
            current=task.progress.current,
            total=task.progress.total,
            fraction=task.progress.fraction,
            eta_seconds=task.progress.eta_seconds,
        ),
        payload=task.payload,
        error_message=task.error_message,
        exception_type=task.exception_type,
        stack_trace=task.stack_trace,
        subscribers=list(task.subscribers),
        created_by=task.created_by,
        created_at=created,
        started_at=_utc(task.started_at),
        ended_at=_utc(task.ended_at),
        duration_seconds=task.duration_seconds,
        timeout=task.timeout,
        timeout_unenforceable=task.timeout_unenforceable,
        cancellable=reason is None,
        cancel_blocked_reason=reason,
    )
