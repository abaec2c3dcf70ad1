"""Reading, waiting on and cancelling one task as the current user, on records.

These work on :class:`TaskRecord` rather than the public :class:`Task`, so that both
the module-level API (:mod:`resumable.tasks._api`) and ``Task``'s own methods can use
them without importing each other.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from sqlalchemy.engine import Connection

from resumable._errors import (
    InvalidValueError,
    TaskFinishedError,
    TaskNotAbortableError,
    TaskNotFoundError,
    TaskTimeoutError,
)
from resumable.tasks import _services
from resumable.tasks._actor import current_actor
from resumable.tasks._models import CancelAction, TaskRecord, TaskStatus
from resumable.tasks._permissions import can_see, cancel_action
from resumable.tasks._transitions import ABORT_REASON_CANCEL, TERMINAL, is_terminal

CancelResult = CancelAction
"""Earlier name of :class:`CancelAction` (kept for imports of it)."""

ASYNC_POLL_FIRST = 0.01
ASYNC_POLL_MAX = 0.25
"""Seconds between status reads while awaiting a task: from the first, growing by half
each time up to the last (a cheap single-row read; the event loop runs meanwhile)."""


def visible(task_uuid: Any) -> TaskRecord:
    if not isinstance(task_uuid, str):
        raise TaskNotFoundError(repr(task_uuid))
    record = _services.current().repository.get(task_uuid)
    if record is None or not can_see(record, current_actor()):
        raise TaskNotFoundError(task_uuid)
    return record


def wait_for(task_uuid: str, timeout: float | None = None) -> TaskRecord:
    """Block until the task is terminal; return its final record.

    Raises:
        TaskTimeoutError: still not terminal after ``timeout`` seconds.
        TaskNotFoundError: no such task, or the current user may not see it.
    """
    _check_timeout(timeout)
    record = visible(task_uuid)
    if is_terminal(record.status):
        return record  # already ended: what we just read is final
    services = _services.current()
    reached = services.signals.wait_for(task_uuid, {s.value for s in TERMINAL}, timeout)
    if reached is None:
        if services.repository.get(task_uuid) is None:
            raise TaskNotFoundError(task_uuid)
        raise TaskTimeoutError(task_uuid, float(timeout or 0.0))
    return visible(task_uuid)


def _check_timeout(timeout: Any) -> None:
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise InvalidValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")


async def await_done(task_uuid: str, timeout: float | None = None) -> TaskRecord:
    """The async twin of :func:`wait_for`: never blocks the event loop.

    Each database read runs in a worker thread (``asyncio.to_thread``, which carries
    the current user along), and between reads the loop sleeps, so any number of
    awaits share the loop without holding a thread each.
    """
    _check_timeout(timeout)
    record = await asyncio.to_thread(visible, task_uuid)
    if is_terminal(record.status):
        return record
    repository = _services.current().repository
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = ASYNC_POLL_FIRST
    while True:
        found = await asyncio.to_thread(repository.status, task_uuid)
        if found is None:
            raise TaskNotFoundError(task_uuid)
        if is_terminal(found[0]):
            return await asyncio.to_thread(visible, task_uuid)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TaskTimeoutError(task_uuid, float(timeout or 0.0))
            pause = min(pause, left)
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, ASYNC_POLL_MAX)


def cancel(task_uuid: str, *, force: bool = False) -> CancelAction:
    """Abort a task, or unsubscribe the current user from a shared one.

    The decision and the change happen in one transaction holding the task's row, so
    two subscribers cancelling at once cannot both merely unsubscribe.

    Raises:
        TaskNotFoundError: no such task, or the current user may not see it.
        PermissionDeniedError: a SYSTEM task or ``force`` without admin rights.
        TaskFinishedError: the task already ended.
        TaskNotAbortableError: in progress without an abort handler (and not
            ``@task(abortable=True)``).
    """
    if not isinstance(force, bool):
        raise InvalidValueError(f"force must be a bool, got {force!r}")
    actor = current_actor()
    services = _services.current()
    repository = services.repository

    def decide(
        conn: Connection, record: TaskRecord | None
    ) -> tuple[CancelAction, TaskStatus | None]:
        if record is None or not can_see(record, actor):
            raise TaskNotFoundError(task_uuid)
        action = cancel_action(record, actor, force=force)
        if is_terminal(record.status):
            raise TaskFinishedError(task_uuid, record.status.value)
        if action == "unsubscribe":
            assert actor.user_id is not None  # only users are ever unsubscribed
            repository.remove_subscriber_in(conn, task_uuid, actor.user_id)
            return CancelAction.UNSUBSCRIBED, None
        if record.status is TaskStatus.ABORTING:
            return CancelAction.ABORTED, None  # already stopping: cancelling again is a no-op
        moved = repository.abort_in(conn, record, ABORT_REASON_CANCEL)
        if moved is None:
            raise TaskNotAbortableError(task_uuid)
        return CancelAction.ABORTED, moved

    if not isinstance(task_uuid, str):
        raise TaskNotFoundError(repr(task_uuid))
    result, moved = repository.with_locked(task_uuid, decide)
    if moved is not None:
        services.signals.notify(task_uuid)
    if moved is TaskStatus.ABORTED:
        # Never started: drop its queued message too (Celery revokes it).
        services.executor.discard(task_uuid)
    return result
