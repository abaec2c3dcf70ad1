"""``/api/v1/task/``: list, read and cancel tasks as the token's user.

Every handler goes through the public task API inside ``acting_as``, so visibility and
cancel rules are the library's own (SEMANTICS.md), never re-implemented here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request

from resumable.api._auth import Session, session, writing_session
from resumable.api._models import (
    CancelIn,
    CancelOut,
    ErrorOut,
    StatusOut,
    TaskListOut,
    TaskOut,
    task_out,
)
from resumable.tasks import (
    TaskScope,
    TaskStatus,
    acting_as,
    cancel_task,
    count_tasks,
    get_task,
    list_tasks,
)

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000  # keeps OFFSET within every database's integer range
NO_NUL = r"^[^\x00]+$"  # no database stores NUL in text
LIST_PARAMETERS = frozenset({"status", "name", "scope", "created_by", "limit", "offset"})

_errors: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No token, or an unknown or revoked one."},
    422: {"model": ErrorOut, "description": "Bad input; the reason is in `detail`."},
}
_not_found: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such task, or not visible to you."}
}

router = APIRouter(prefix="/api/v1/task", tags=["tasks"], responses=_errors)

TaskId = Annotated[UUID, "the task's uuid"]


@contextmanager
def _as(current: Session) -> Iterator[None]:
    with acting_as(current.user.user_id, admin=current.user.admin):
        yield


def _reject_unknown_parameters(request: Request) -> None:
    repeated = sorted({k for k in request.query_params if len(request.query_params.getlist(k)) > 1})
    if repeated:
        raise HTTPException(422, f"query parameter(s) given more than once: {', '.join(repeated)}")
    unknown = sorted(set(request.query_params) - LIST_PARAMETERS)
    if unknown:
        allowed = ", ".join(sorted(LIST_PARAMETERS))
        raise HTTPException(
            422, f"unknown query parameter(s): {', '.join(unknown)} (allowed: {allowed})"
        )


@router.get("/", response_model=TaskListOut, summary="List the tasks you may see")
def list_(
    request: Request,
    current: Annotated[Session, Depends(session)],
    status: Annotated[TaskStatus | None, Query(description="Only this status.")] = None,
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=255, pattern=NO_NUL, description="Only this @task name."),
    ] = None,
    scope: Annotated[TaskScope | None, Query(description="Only this scope.")] = None,
    created_by: Annotated[
        str | None,
        Query(min_length=1, max_length=255, pattern=NO_NUL, description="Only this creator."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TaskListOut:
    """Tasks newest first, `limit` at a time from `offset`; `count` is the total match."""
    _reject_unknown_parameters(request)
    filters = {"name": name, "scope": scope, "created_by": created_by}
    with _as(current):
        found = list_tasks(status, limit, offset=offset, **filters)
        total = count_tasks(status, **filters)
    return TaskListOut(count=total, result=[task_out(t, current.user) for t in found])


@router.get("/{task_uuid}", response_model=TaskOut, responses=_not_found, summary="Read one task")
def read(task_uuid: TaskId, current: Annotated[Session, Depends(session)]) -> TaskOut:
    """Every field of the task; the ETA is computed now, from the time elapsed."""
    with _as(current):
        return task_out(get_task(str(task_uuid)), current.user)


@router.get(
    "/{task_uuid}/status",
    response_model=StatusOut,
    responses=_not_found,
    summary="Read a task's status",
)
def status_(task_uuid: TaskId, current: Annotated[Session, Depends(session)]) -> StatusOut:
    """Only the status (cheap to poll)."""
    with _as(current):
        return StatusOut(status=get_task(str(task_uuid)).status)


@router.post(
    "/{task_uuid}/cancel",
    response_model=CancelOut,
    responses={
        **_not_found,
        403: {"model": ErrorOut, "description": "Force without admin, a SYSTEM task, CSRF."},
        409: {"model": ErrorOut, "description": "Not abortable, or already finished."},
    },
    summary="Cancel a task",
)
def cancel(
    task_uuid: TaskId,
    current: Annotated[Session, Depends(writing_session)],
    body: Annotated[CancelIn | None, Body()] = None,
) -> CancelOut:
    """Abort the task, or unsubscribe you from a shared task others still follow.

    `force` (admins) aborts a shared task for every subscriber.
    """
    force = body.force if body is not None else False
    with _as(current):
        return CancelOut(action=cancel_task(str(task_uuid), force=force))
