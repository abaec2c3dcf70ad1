"""What ``resumable.run_task`` does with one delivered message: claim, run, hand on.

The claim (a compare-and-set on the task row) decides whether this delivery runs
anything. Every other outcome acknowledges the message and drops it: the task ended
or was cancelled, or another delivery is running it (a duplicate, a redelivery after
a lost connection or the Redis visibility timeout). Whoever runs an attempt also
sends the message for the next one (a retry after ``retry_delay``).

A task's first message is sent before its row is inserted (see
``CeleryExecutor.send_then_create``), so it can arrive before the row is committed: a
first message (its id is the task's uuid) that finds no row looks for it again a
moment.

A worker never claims a task whose name it has not registered: it lets the message go
and clears it from the row, so the task stays PENDING and the keeper of a worker that
has the name (now or once one starts) sends it a new message.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from resumable.execution.celery import _sql
from resumable.execution.celery._app import send
from resumable.execution.worker._child import decode_arguments, refuse
from resumable.tasks import _services
from resumable.tasks._models import TaskStatus
from resumable.tasks._registry import registered, registered_names
from resumable.tasks._runtime import run_attempt

log = logging.getLogger("resumable.celery")

ROW_WAITS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Pauses before each new claim of a first message that came before its row's commit
(about 3.9 s in all: a scheduler that has not committed by then has failed, and the
message is dropped; were the row to come later still, the keepers send the task
again as a lost message)."""


def worker_id(hostname: str | None) -> str:
    """How a Celery pool process names itself in ``worker_id``: ``node@host:pid``."""
    return f"{hostname or 'celery'}:{os.getpid()}"


def run_task(self: Any, task_uuid: str) -> str:
    """The body of the Celery task ``resumable.run_task``; returns what happened
    (Celery logs it)."""
    services = _services.current()
    claimed = _claim(self, services, task_uuid)
    if claimed is None and self.request.id == task_uuid:
        claimed = _claim_once_inserted(self, services, task_uuid)
    if claimed is None:
        return _not_claimed(self, task_uuid)
    record, arguments = claimed
    try:
        definition = registered(record.name)
        args, kwargs = decode_arguments(arguments)
    except (LookupError, ValueError) as exc:
        refuse(services, task_uuid, f"task {record.name!r} cannot run here: {exc}")
        return f"refused: {exc}"
    status = run_attempt(services, definition, task_uuid, args, kwargs, claimed=record)
    if status is TaskStatus.PENDING:
        _send_next(self, task_uuid)
    return f"ran attempt {record.attempt}: {status.value if status else 'not claimed'}"


def _claim(self: Any, services: Any, task_uuid: str) -> tuple[Any, str | None] | None:
    return _sql.claim(
        services.repository.database,
        task_uuid,
        registered_names(),
        worker_id(self.request.hostname),
        self.request.id,
        repository=services.repository,
    )


def _claim_once_inserted(self: Any, services: Any, task_uuid: str) -> Any:
    """Claim again while the task's row is missing (its first message overtook the
    insert); None when the row is there and the claim still loses (another reason,
    see :func:`_not_claimed`) or when it never comes."""
    database = services.repository.database
    for pause in ROW_WAITS:
        if _sql.exists(database, task_uuid):
            # Committed by now, maybe just after the claim that missed it: one more
            # claim decides (it loses again when the row was there all along).
            return _claim(self, services, task_uuid)
        time.sleep(pause)
        claimed = _claim(self, services, task_uuid)
        if claimed is not None:
            return claimed
    return None


def _not_claimed(self: Any, task_uuid: str) -> str:
    record = _sql.read(_services.current().repository.database, task_uuid)
    if record is None:
        return "dropped: no such task (pruned or deleted)"
    if record.status is not TaskStatus.PENDING:
        return f"dropped: the task is {record.status.value} (attempt {record.attempt})"
    if record.name not in registered_names():
        # Another worker (another queue, a newer deploy) may know it: it stays PENDING,
        # and the keeper of a worker that has the name sends it a new message. Sending
        # it back from here would bounce it between workers that cannot run it.
        released = _sql.release(database_of(), task_uuid, record.attempt, self.request.id)
        log.warning(
            "not running task_uuid=%s name=%s: no @task of that name is registered in "
            "this worker; it stays pending for a worker that has it%s",
            task_uuid,
            record.name,
            "" if released else " (another message is on its way)",
        )
        return f"not run: no @task named {record.name!r} is registered in this worker"
    # Delivered before its retry delay ran out (clocks differ, or a duplicate of an
    # older attempt's message): come back when it is due.
    _send_next(self, task_uuid)
    return "not due yet: sent again for later"


def database_of() -> Any:
    return _services.current().repository.database


def _send_next(self: Any, task_uuid: str) -> None:
    """Send the message of the task's next attempt, to the task's queue."""
    database = database_of()
    record = _sql.read(database, task_uuid)
    if record is None or record.status is not TaskStatus.PENDING:
        return
    send_noted(
        self.app,
        database,
        task_uuid,
        record.attempt,
        countdown=_sql.due_in(record.not_before),
        queue=record.queue,
    )


def send_noted(
    app: Any,
    database: Any,
    task_uuid: str,
    attempt: int,
    *,
    countdown: float,
    queue: str | None,
    unsent_only: bool = False,
) -> str | None:
    """Record a new message id in the row, then send that message; its id, or None
    when the row moved on (or, ``unsent_only``, another keeper is sending one).

    In this order, a worker receiving the message at once already finds it named in
    the row (letting it go is guarded by that id).
    """
    message_id = f"{task_uuid}.{uuid.uuid4().hex[:8]}"
    if not _sql.note_message(database, task_uuid, attempt, message_id, unsent_only=unsent_only):
        return None
    try:
        send(app, task_uuid, message_id=message_id, countdown=countdown, queue=queue)
    except Exception:
        # Not sent: no message is on its way, so a keeper sends one later.
        _sql.note_message(database, task_uuid, attempt, None, replacing=message_id)
        raise
    return message_id
