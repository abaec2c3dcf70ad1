"""The few statements only the Celery engine needs, over the task table.

Every write is a compare-and-set like the rest of the task framework's SQL: a claim
wins only from a due PENDING row, so however many times a message is delivered, one
delivery at most runs the attempt.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, not_, or_, select, update

from resumable._db.engine import Database, translate_errors
from resumable._db.planner import unindexed
from resumable._db.types import utcnow
from resumable.migrations.schema import tasks
from resumable.tasks._lease_repository import CELERY_EXECUTOR
from resumable.tasks._models import TaskRecord, TaskStatus
from resumable.tasks._repository import TaskRepository
from resumable.tasks._rows import _move_values, _record
from resumable.tasks._transitions import sources_of
from resumable.tasks._workers import among, queue_filter

_t = tasks.c
_RUNNING = (TaskStatus.IN_PROGRESS.value, TaskStatus.ABORTING.value)


def claim(
    database: Database,
    task_uuid: str,
    names: Collection[str],
    worker_id: str,
    message_id: str | None,
    *,
    repository: TaskRepository | None = None,
) -> tuple[TaskRecord, str | None] | None:
    """PENDING -> IN_PROGRESS if due and its name is one of ``names`` (registered here),
    naming the Celery worker and message that run it.

    Returns the claimed record and its JSON arguments, or None when this delivery lost:
    the task is not due, not known here, already running, ended, cancelled or gone
    (:func:`read` tells which). On a busy database every checkout and round trip shows
    in the schedule->start latency: given the ``repository`` of ``database`` on
    PostgreSQL, the claim is its one pre-compiled statement on a kept connection (no
    pool pre-ping); otherwise one connection for both statements.
    """
    if repository is not None and repository.database is database and repository.claims_named:
        return repository.claim_named(task_uuid, names, worker_id, message_id)
    now = utcnow()
    statement = (
        update(tasks)
        .where(
            _t.uuid == task_uuid,
            unindexed(_t.status).in_([s.value for s in sources_of(TaskStatus.IN_PROGRESS)]),
            or_(_t.not_before.is_(None), _t.not_before <= now),
            among(unindexed(_t.name), names, database.dialect),
        )
        .values(
            _move_values(
                TaskStatus.IN_PROGRESS,
                now,
                {"abort_reason": None, "worker_id": worker_id, "celery_task_id": message_id},
            )
        )
    )
    with translate_errors(database.url), database.auto.connect() as conn:
        if database.dialect == "postgresql":
            # One round trip: the claimed row comes back with the claim.
            row = conn.execute(statement.returning(*tasks.c)).first()
            conn.commit()
        else:
            count = conn.execute(statement).rowcount
            conn.commit()
            row = conn.execute(select(tasks).where(_t.uuid == task_uuid)).first() if count else None
    if row is None:
        return None
    return _record(row, []), row._mapping["arguments"]


def read(database: Database, task_uuid: str) -> TaskRecord | None:
    """The task's record without subscribers (why a claim lost, what to send next)."""
    with translate_errors(database.url), database.auto.connect() as conn:
        row = conn.execute(select(tasks).where(_t.uuid == task_uuid)).first()
    return None if row is None else _record(row, [])


def exists(database: Database, task_uuid: str) -> bool:
    """Whether the task's row is there (committed and visible to this connection)."""
    with translate_errors(database.url), database.auto.connect() as conn:
        found = conn.execute(select(_t.uuid).where(_t.uuid == task_uuid)).first()
    return found is not None


def note_message(
    database: Database,
    task_uuid: str,
    attempt: int,
    message_id: str | None,
    *,
    replacing: str | None = None,
    unsent_only: bool = False,
) -> bool:
    """Record the id of the message about to be sent for a PENDING attempt (None:
    forget it again when sending failed).

    Written before the message is sent, so a worker that receives it at once finds its
    id in the row. ``unsent_only``: only if no message is recorded (one keeper of many
    sends it); ``replacing``: only if the row still names that message.
    """
    conditions = [
        _t.uuid == task_uuid,
        _t.attempt == attempt,
        unindexed(_t.status) == TaskStatus.PENDING.value,
    ]
    if unsent_only:
        conditions.append(_t.celery_task_id.is_(None))
    if replacing is not None:
        conditions.append(_t.celery_task_id == replacing)
    statement = (
        update(tasks).where(*conditions).values(celery_task_id=message_id, updated_at=utcnow())
    )
    with translate_errors(database.url), database.auto.connect() as conn:
        count = conn.execute(statement).rowcount
        conn.commit()
    return bool(count)


def without_message(
    database: Database, names: Collection[str], queues: Collection[str], limit: int = 100
) -> list[tuple[str, int, datetime | None, str | None]]:
    """PENDING celery tasks no message was sent for (reaped attempts, or messages a
    worker without their name let go), among ``names`` on ``queues``, oldest first:
    (uuid, attempt, not_before, queue)."""
    if not names or not queues:
        return []
    query = (
        select(_t.uuid, _t.attempt, _t.not_before, _t.queue)
        .where(
            _t.status == TaskStatus.PENDING.value,
            _t.executor == CELERY_EXECUTOR,
            _t.celery_task_id.is_(None),
            among(_t.name, names, database.dialect),
            queue_filter(queues, database.dialect),
        )
        .order_by(_t.created_at)
        .limit(limit)
    )
    with translate_errors(database.url), database.auto.connect() as conn:
        return [
            (row.uuid, int(row.attempt), row.not_before, row.queue) for row in conn.execute(query)
        ]


# A message a keeper sent again names how many times: ``<uuid>.r<n>.<random>``. The
# row's message id then carries its own back-off: the k-th re-send of one attempt waits
# 2**k times the grace (at most RESEND_BACKOFF_CAP times), so a long backlog costs a few
# duplicates per task, not one per grace period.
_RESENDS = re.compile(r"\.r(\d+)\.")
RESEND_BACKOFF_CAP = 8


def resends(message_id: str | None) -> int:
    """How many times a keeper sent this attempt's message again (0: never)."""
    found = _RESENDS.search(message_id or "")
    return int(found.group(1)) if found else 0


def resend_id(task_uuid: str, message_id: str | None) -> str:
    """The id of the message that replaces ``message_id`` (one more re-send)."""
    return f"{task_uuid}.r{resends(message_id) + 1}.{uuid.uuid4().hex[:8]}"


def unclaimed(
    database: Database,
    names: Collection[str],
    queues: Collection[str],
    grace: float,
    now: datetime | None = None,
    limit: int = 100,
) -> list[tuple[str, int, str, str | None]]:
    """PENDING celery tasks among ``names`` on ``queues`` whose message has been out,
    due and unclaimed, for longer than ``grace`` seconds (times its back-off, see
    :func:`resends`): (uuid, attempt, message id, queue), longest waiting first.

    A message is out since the row last changed (``updated_at``: the schedule, or the
    last message recorded) or since the task became due (``not_before``: a countdown
    or a retry delay), whichever is later: a task not due yet is not missing anything.
    """
    if not names or not queues:
        return []
    now = now or utcnow()

    def out_for(factor: int) -> Any:
        cutoff = now - timedelta(seconds=grace * factor)
        return and_(_t.updated_at < cutoff, or_(_t.not_before.is_(None), _t.not_before < cutoff))

    once, twice = _t.celery_task_id.like("%.r1.%"), _t.celery_task_id.like("%.r2.%")
    resent = _t.celery_task_id.like("%.r%.%")
    query = (
        select(_t.uuid, _t.attempt, _t.celery_task_id, _t.queue)
        .where(
            _t.status == TaskStatus.PENDING.value,
            _t.executor == CELERY_EXECUTOR,
            _t.celery_task_id.is_not(None),
            among(_t.name, names, database.dialect),
            queue_filter(queues, database.dialect),
            or_(
                and_(not_(resent), out_for(1)),
                and_(once, out_for(2)),
                and_(twice, out_for(4)),
                and_(resent, not_(once), not_(twice), out_for(RESEND_BACKOFF_CAP)),
            ),
        )
        .order_by(_t.updated_at)
        .limit(limit)
    )
    with translate_errors(database.url), database.auto.connect() as conn:
        return [
            (row.uuid, int(row.attempt), row.celery_task_id, row.queue)
            for row in conn.execute(query)
        ]


def release(database: Database, task_uuid: str, attempt: int, message_id: str | None) -> bool:
    """Forget the message ``message_id`` of a PENDING attempt (this worker cannot run
    it): the keeper of a worker that can sends a new one. Nothing changes when the row
    already names another message (a newer one is on its way)."""
    if message_id is None:
        return False
    statement = (
        update(tasks)
        .where(
            _t.uuid == task_uuid,
            _t.attempt == attempt,
            unindexed(_t.status) == TaskStatus.PENDING.value,
            _t.celery_task_id == message_id,
        )
        .values(celery_task_id=None)
    )
    with translate_errors(database.url), database.auto.connect() as conn:
        count = conn.execute(statement).rowcount
        conn.commit()
    return bool(count)


def killable(database: Database) -> dict[str, str | None]:
    """Running celery tasks that have a hard stop (``kill_after``): uuid -> message id."""
    query = select(_t.uuid, _t.celery_task_id).where(
        _t.status.in_(_RUNNING),
        _t.executor == CELERY_EXECUTOR,
        _t.kill_after.is_not(None),
    )
    with translate_errors(database.url), database.auto.connect() as conn:
        return {row.uuid: row.celery_task_id for row in conn.execute(query)}


def due_in(not_before: datetime | None, now: datetime | None = None) -> float:
    """Seconds until ``not_before`` (0 when it passed or is unset)."""
    if not_before is None:
        return 0.0
    return max(0.0, (not_before - (now or utcnow())) / timedelta(seconds=1))


__all__ = [
    "claim",
    "due_in",
    "killable",
    "note_message",
    "read",
    "release",
    "resend_id",
    "resends",
    "unclaimed",
    "without_message",
]
