"""Live workers: who can run which task names on which queues.

Each ``resumable worker`` (and each Celery pool process with resumable loaded) keeps
one row in ``resumable_workers`` with the task names it registered and the queues it
serves, refreshed with its heartbeat and deleted when it stops cleanly. A row whose
heartbeat is older than the lease belongs to a worker presumed dead: it is ignored and
deleted by the next worker that looks.

What it is for: a PENDING task no live worker can run waits forever, silently. With
the registry, ``resumable tasks list`` and ``show`` say so (:func:`unrunnable`), and a
worker names at start the pending task names it sees but cannot run.

Queues: ``None`` on a task row and the name ``default`` both mean the default queue
(for Celery, the app's ``task_default_queue``); rows in the registry say ``default``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
from sqlalchemy import bindparam, delete, distinct, or_, select

from resumable._db.dialect import upsert
from resumable._db.engine import Database, translate_errors
from resumable._db.planner import unindexed
from resumable._db.types import utcnow
from resumable.migrations.schema import tasks, workers
from resumable.tasks._models import TaskStatus

log = logging.getLogger("resumable.tasks")

DEFAULT_QUEUE = "default"
"""The name of the default queue (a task row's ``queue`` is NULL for it)."""

REMOTE_ENGINES = ("worker", "celery")
"""Executors whose tasks wait for a separate worker (the others run in their caller)."""

_t = tasks.c
_w = workers.c
# Uuids per statement when reading the rows of a listing (SQLite's parameter limit).
_CHUNK = 500


def queue_label(queue: str | None) -> str:
    """The queue a task row's ``queue`` value names (``default`` for NULL)."""
    return queue or DEFAULT_QUEUE


def among(column: Any, values: Collection[str], dialect: str) -> Any:
    """``column IN (values)`` as one expanding parameter.

    On SQLite the values are rendered into the statement as literals when it runs,
    so a worker with thousands of task names never meets the bound-parameter limit.
    """
    # An expression over a column (resumable._db.planner.unindexed) has no name.
    label = getattr(column, "name", None) or "values"
    parameter: Any = bindparam(
        f"{label}_among",
        sorted(values),
        expanding=True,
        literal_execute=dialect == "sqlite",
    )
    return column.in_(parameter)


def queue_filter(queues: Collection[str], dialect: str) -> Any:
    """Task rows whose queue is one of ``queues`` (``default``: NULL too)."""
    condition = among(_t.queue, queues, dialect)
    if DEFAULT_QUEUE in queues:
        return or_(_t.queue.is_(None), condition)
    return condition


@attrs.frozen(kw_only=True)
class LiveWorker:
    """One row of the registry."""

    worker_id: str
    hostname: str
    pid: int
    engine: str
    task_names: frozenset[str]
    queues: frozenset[str]
    started_at: datetime
    heartbeat_at: datetime

    def runs(self, engine: str | None, name: str, queue: str | None) -> bool:
        """Whether this worker can run a task of ``engine`` named ``name`` on ``queue``."""
        return (
            engine == self.engine and name in self.task_names and queue_label(queue) in self.queues
        )


def _json_list(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


class WorkerRegistry:
    """The ``resumable_workers`` table.

    Args:
        database: The task database.
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    def beat(
        self,
        worker_id: str,
        *,
        hostname: str,
        pid: int,
        engine: str,
        task_names: Iterable[str],
        queues: Iterable[str],
        started_at: datetime,
        now: datetime | None = None,
    ) -> None:
        """Insert or refresh this worker's row (an upsert: a row that a reader took
        for stale and deleted comes back with the next beat)."""
        now = now or utcnow()
        values = {
            "worker_id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "engine": engine,
            "task_names": json.dumps(sorted(set(task_names))),
            "queues": json.dumps(sorted({queue_label(q) for q in queues})),
            "started_at": started_at,
            "heartbeat_at": now,
        }
        statement = upsert(
            workers,
            self._db.dialect,
            ["worker_id"],
            ["hostname", "pid", "engine", "task_names", "queues", "heartbeat_at"],
        ).values(values)
        with translate_errors(self._db.url), self._db.auto.connect() as conn:
            conn.execute(statement)

    def remove(self, worker_id: str) -> None:
        """Delete this worker's row (clean shutdown)."""
        with translate_errors(self._db.url), self._db.auto.connect() as conn:
            conn.execute(delete(workers).where(_w.worker_id == worker_id))

    def collect(self, lease: float, now: datetime | None = None) -> int:
        """Delete the rows of workers silent for longer than ``lease``; return how many."""
        cutoff = (now or utcnow()) - timedelta(seconds=lease)
        with translate_errors(self._db.url), self._db.auto.connect() as conn:
            count = conn.execute(delete(workers).where(_w.heartbeat_at < cutoff)).rowcount
        return int(count or 0)

    def live(self, lease: float, now: datetime | None = None) -> list[LiveWorker]:
        """Workers that heartbeat within ``lease`` seconds, oldest first."""
        cutoff = (now or utcnow()) - timedelta(seconds=lease)
        query = select(workers).where(_w.heartbeat_at >= cutoff).order_by(_w.started_at)
        with translate_errors(self._db.url), self._db.auto.connect() as conn:
            rows = conn.execute(query).all()
        return [
            LiveWorker(
                worker_id=row.worker_id,
                hostname=row.hostname,
                pid=int(row.pid),
                engine=row.engine,
                task_names=frozenset(_json_list(row.task_names)),
                queues=frozenset(_json_list(row.queues)),
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
            )
            for row in rows
        ]

    def pending_elsewhere(
        self, engine: str, names: Collection[str], queues: Collection[str]
    ) -> list[tuple[str, str]]:
        """(name, queue) of PENDING ``engine`` tasks on ``queues`` whose name is not
        among ``names``: what a worker serving those queues sees but cannot run."""
        query = (
            select(distinct(_t.name), _t.queue)
            .where(
                _t.status == TaskStatus.PENDING.value,
                _t.executor == engine,
                queue_filter(queues, self._db.dialect),
                ~among(_t.name, names, self._db.dialect),
            )
            .limit(100)
        )
        with translate_errors(self._db.url), self._db.auto.connect() as conn:
            rows = conn.execute(query).all()
        return sorted({(row[0], queue_label(row[1])) for row in rows})

    def pending_rows(self, uuids: Sequence[str]) -> list[tuple[str, str, str | None, str | None]]:
        """(uuid, name, queue, executor) of those of ``uuids`` that are PENDING."""
        found: list[tuple[str, str, str | None, str | None]] = []
        with translate_errors(self._db.url), self._db.auto.connect() as conn:
            for start in range(0, len(uuids), _CHUNK):
                query = select(_t.uuid, _t.name, _t.queue, _t.executor).where(
                    _t.uuid.in_(list(uuids[start : start + _CHUNK])),
                    unindexed(_t.status) == TaskStatus.PENDING.value,
                )
                found.extend((r[0], r[1], r[2], r[3]) for r in conn.execute(query))
        return found


def unrunnable(found: Iterable[Any]) -> dict[str, str]:
    """Which PENDING tasks of a listing no live worker can run.

    Args:
        found: Tasks (:class:`~resumable.Task` or records: anything with ``uuid`` and
            ``status``), e.g. what :func:`resumable.list_tasks` returned.

    Returns:
        ``{uuid: "no live worker runs <name> on queue <queue>"}`` for each pending task
        of the ``worker`` or ``celery`` executor that no live worker has registered
        (name, queue) for. Tasks of the ``thread`` and ``inline`` executors are run by
        the process that scheduled them and are never listed. At most two queries.
    """
    from resumable.tasks import _services

    pending = [t.uuid for t in found if TaskStatus(t.status) is TaskStatus.PENDING]
    if not pending:
        return {}
    services = _services.current()
    registry = WorkerRegistry(services.repository.database)
    rows = [row for row in registry.pending_rows(pending) if row[3] in REMOTE_ENGINES]
    if not rows:
        return {}
    alive = registry.live(services.settings.lease)
    missing = {}
    for task_uuid, name, queue, engine in rows:
        if not any(w.runs(engine, name, queue) for w in alive):
            missing[task_uuid] = f"no live worker runs {name} on queue {queue_label(queue)}"
    return missing


__all__ = [
    "DEFAULT_QUEUE",
    "LiveWorker",
    "WorkerRegistry",
    "among",
    "queue_filter",
    "queue_label",
    "unrunnable",
]
