"""What ``resumable.run_task`` does with one delivered message: claim, run, hand on.

The claim (a compare-and-set on the task row) decides whether this delivery runs
anything. Every other outcome acknowledges the message and drops it: the task ended
or was cancelled, or another delivery is running it (a duplicate, a redelivery after
a lost connection or the Redis visibility timeout). Whoever runs an attempt also
sends the message for the next one (a retry after ``retry_delay``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from resumable.execution.celery import _sql
from resumable.execution.celery._app import send
from resumable.execution.worker._child import decode_arguments, refuse
from resumable.tasks import _services
from resumable.tasks._decorator import registered, registered_names
from resumable.tasks._models import TaskStatus
from resumable.tasks._runtime import run_attempt

log = logging.getLogger("resumable.celery")

UNREGISTERED_RETRY = 5.0
"""Seconds before a message for a task this worker does not know is sent again."""


def worker_id(hostname: str | None) -> str:
    """How a Celery pool process names itself in ``worker_id``: ``node@host:pid``."""
    return f"{hostname or 'celery'}:{os.getpid()}"


def run_task(self: Any, task_uuid: str) -> str:
    """The body of the Celery task ``resumable.run_task``; returns what happened
    (Celery logs it)."""
    services = _services.current()
    database = services.repository.database
    queue = _queue_of(self)
    claimed = _sql.claim(
        database,
        task_uuid,
        registered_names(),
        worker_id(self.request.hostname),
        self.request.id,
    )
    if claimed is None:
        return _not_claimed(self, task_uuid, queue)
    record, arguments = claimed
    try:
        definition = registered(record.name)
        args, kwargs = decode_arguments(arguments)
    except (LookupError, ValueError) as exc:
        refuse(services, task_uuid, f"task {record.name!r} cannot run here: {exc}")
        return f"refused: {exc}"
    status = run_attempt(services, definition, task_uuid, args, kwargs, claimed=record)
    if status is TaskStatus.PENDING:
        _send_next(self, task_uuid, queue)
    return f"ran attempt {record.attempt}: {status.value if status else 'not claimed'}"


def _not_claimed(self: Any, task_uuid: str, queue: str | None) -> str:
    record = _sql.read(_services.current().repository.database, task_uuid)
    if record is None:
        return "dropped: no such task (pruned or deleted)"
    if record.status is not TaskStatus.PENDING:
        return f"dropped: the task is {record.status.value} (attempt {record.attempt})"
    if record.name not in registered_names():
        # Another worker (another queue, a newer deploy) may know it: it stays
        # PENDING, and its message comes back later instead of being lost.
        _send_next(self, task_uuid, queue, at_least=UNREGISTERED_RETRY)
        return f"not run: no @task named {record.name!r} is registered in this worker"
    # Delivered before its retry delay ran out (clocks differ, or a duplicate of an
    # older attempt's message): come back when it is due.
    _send_next(self, task_uuid, queue)
    return "not due yet: sent again for later"


def _send_next(self: Any, task_uuid: str, queue: str | None, at_least: float = 0.0) -> None:
    database = _services.current().repository.database
    record = _sql.read(database, task_uuid)
    if record is None or record.status is not TaskStatus.PENDING:
        return
    countdown = max(at_least, _sql.due_in(record.not_before))
    message_id = send(self.app, task_uuid, countdown=countdown, queue=queue)
    _sql.note_message(database, task_uuid, record.attempt, message_id)


def _queue_of(self: Any) -> str | None:
    info = getattr(self.request, "delivery_info", None) or {}
    routing_key = info.get("routing_key")
    return routing_key if isinstance(routing_key, str) and routing_key else None
