"""The SQL of leases: claiming due tasks in batches, heartbeats, reaping, hard stops.

Kept apart from :mod:`._repository` (lifecycle and dedup) because only running attempts
and worker processes use it. Every write is a compare-and-set, so any number of
workers may claim and reap at once without a leader: a row one of them moved no
longer matches the others' conditions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs
from sqlalchemy import (
    MetaData,
    String,
    and_,
    any_,
    bindparam,
    column,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from resumable._db.engine import Database, translate_errors
from resumable._db.planner import unindexed
from resumable._db.types import utcnow
from resumable.migrations.schema import tasks
from resumable.store._sql_direct import CompiledStatement, DirectExecutor
from resumable.tasks._leases import Reaping, lease_lapsed, reaping
from resumable.tasks._models import TaskRecord, TaskStatus
from resumable.tasks._rows import _move_values, _record
from resumable.tasks._statements import RECORD_COLUMNS, _Rows
from resumable.tasks._transitions import ABORT_REASON_TIMEOUT, sources_of, status_after_abort
from resumable.tasks._workers import DEFAULT_QUEUE, among, queue_filter

_t = tasks.c
_RUNNING = (TaskStatus.IN_PROGRESS.value, TaskStatus.ABORTING.value)
WORKER_EXECUTOR = "worker"
CELERY_EXECUTOR = "celery"


@attrs.frozen(kw_only=True)
class Reaped:
    """One attempt a reaper ended because its lease expired."""

    uuid: str
    name: str
    scope: str
    task_key: str | None
    created_by: str | None
    attempt: int
    decision: Reaping


CLAIMED_COLUMNS = (*RECORD_COLUMNS, "arguments", "kill_after")
"""What a claim returns: the record the child runs from, the arguments it calls the task
with, and the hard-stop setting the worker watches (a row's kill_after never changes)."""


@attrs.frozen
class Claimed:
    """A task a worker claimed, as the claim left its row.

    Plain values only (``values``: :data:`CLAIMED_COLUMNS` in order, as Python values),
    so the worker can hand it through a child's pipe and the child runs the attempt
    without reading the row again.
    """

    values: tuple[Any, ...]

    @property
    def uuid(self) -> str:
        """The task's uuid."""
        return str(self.values[0])

    def get(self, name: str) -> Any:
        """The claimed row's value of column ``name`` (one of :data:`CLAIMED_COLUMNS`)."""
        return self.values[_CLAIMED_INDEX[name]]

    def record(self) -> TaskRecord:
        """The task record (subscribers left empty)."""
        return _record(dict(zip(CLAIMED_COLUMNS, self.values, strict=True)), [])

    @property
    def arguments(self) -> str | None:
        """The JSON arguments the task was scheduled with (None: not stored)."""
        value = self.get("arguments")
        return None if value is None else str(value)


_CLAIMED_INDEX = {name: index for index, name in enumerate(CLAIMED_COLUMNS)}


class _ClaimStatements:
    """The claim as one compiled ``UPDATE … WHERE uuid IN (SELECT … SKIP LOCKED) RETURNING``.

    One round trip on kept autocommit connections (see ``_statements.py``), whatever
    the number of rows claimed, instead of BEGIN, SELECT, one UPDATE per row, COMMIT
    and a read of each row. The worker's names and queues are one parameter each
    (an array on PostgreSQL, a JSON list read by ``json_each`` on SQLite), so the
    statement is compiled once, whatever their number.

    Used where UPDATE … RETURNING exists (PostgreSQL; SQLite 3.35+ under SQLAlchemy 2).
    """

    def __init__(self, database: Database) -> None:
        engine: Engine = database.auto
        table = tasks
        if database.schema:
            # Compiled statements bypass schema_translate_map: name the schema in a copy.
            engine = engine.execution_options(schema_translate_map=None)
            table = tasks.to_metadata(MetaData(), schema=database.schema)
        dialect: Any = engine.dialect
        self.postgres = dialect.name == "postgresql"
        self.direct = DirectExecutor(engine, database.url)
        c = table.c
        returned = [c[name] for name in CLAIMED_COLUMNS]
        self._rows = _Rows(returned, dialect)

        def one_of(col: Any, name: str) -> Any:
            if self.postgres:
                from sqlalchemy.dialects.postgresql import ARRAY

                return col == any_(bindparam(name, type_=ARRAY(String)))
            return col.in_(select(column("value")).select_from(func.json_each(bindparam(name))))

        def due_of(status: Any) -> Any:
            return and_(
                # Literal comparisons, not IN: compiled SQL cannot expand lists.
                or_(*(status == s.value for s in sources_of(TaskStatus.IN_PROGRESS))),
                c.executor == WORKER_EXECUTOR,
                or_(c.not_before.is_(None), c.not_before <= bindparam("p_now")),
            )

        def build(default_queue: bool) -> CompiledStatement:
            # The candidates are found through the status index; the update takes each
            # locked row by its key, guarded again (see resumable._db.planner).
            due, still_due = due_of(c.status), due_of(unindexed(c.status))
            queue = one_of(c.queue, "p_queues")
            if default_queue:
                queue = or_(c.queue.is_(None), queue)
            candidates = (
                select(c.uuid)
                .where(due, one_of(c.name, "p_names"), queue)
                .order_by(c.created_at, c.uuid)
                .limit(bindparam("p_limit"))
                .with_for_update(skip_locked=True)
            )
            if self.postgres:
                # A CTE, not ``uuid IN (subquery)``: PostgreSQL may run such a
                # subquery again per row, and with SKIP LOCKED each run locks new rows,
                # so one claim could take more than ``limit``. A CTE that locks runs
                # exactly once.
                picked = candidates.cte("picked")
                chosen = c.uuid == picked.c.uuid
            else:
                # SQLite runs an uncorrelated IN subquery once (and has no row locks).
                chosen = c.uuid.in_(candidates.scalar_subquery())
            statement = (
                update(table)
                # Due again: on PostgreSQL the locked rows cannot have moved, but the
                # guard costs nothing and keeps the update a compare-and-set.
                .where(chosen, still_due)
                .values(
                    status=TaskStatus.IN_PROGRESS.value,
                    abort_reason=null(),
                    worker_id=bindparam("p_worker"),
                    updated_at=bindparam("p_now"),
                    started_at=bindparam("p_now"),
                    # Claiming is the first heartbeat: the lease runs from here.
                    heartbeat_at=bindparam("p_now"),
                    # As _move_values does for IN_PROGRESS: the ETA counts from here.
                    progress_start_fraction=c.progress_fraction,
                )
                .returning(*returned)
            )
            return CompiledStatement(statement, engine)

        self._statements = {flag: build(flag) for flag in (False, True)}

    def claim(
        self,
        limit: int,
        worker_id: str,
        names: Collection[str],
        queues: Collection[str],
        now: datetime,
    ) -> list[Claimed]:
        listed: Any
        if self.postgres:
            listed = sorted
        else:

            def listed(values: Collection[str]) -> str:
                return json.dumps(sorted(values))

        statement = self._statements[DEFAULT_QUEUE in queues]
        values = {
            "p_limit": limit,
            "p_worker": worker_id,
            "p_now": now,
            "p_names": listed(names),
            "p_queues": listed(queues),
        }
        # Sent once: a connection that breaks after the server committed would make a
        # second try claim other rows, and the first ones wait for their lease to run
        # out, as after a worker crash. The worker's loop retries on its next round.
        rows = self.direct.fetch_all(statement, values)
        claimed = [Claimed(tuple(self._rows(raw).values())) for raw in rows]
        # RETURNING keeps no order: hand the oldest first.
        claimed.sort(key=lambda found: (found.get("created_at"), found.uuid))
        return claimed

    def close(self) -> None:
        self.direct.close()


@attrs.frozen(kw_only=True)
class Watched:
    """What a worker needs to know about a task one of its children runs."""

    uuid: str
    status: TaskStatus
    attempt: int
    abort_reason: str | None
    started_at: datetime | None
    timeout: float | None
    kill_after: float | None
    aborting_since: datetime | None


class LeaseRepository:
    """Lease SQL over the task database (shares the task repository's pool)."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.url = database.url
        self._claims: _ClaimStatements | None = None
        self._claims_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Give back the connections the claim keeps (the services are released)."""
        with self._claims_lock:
            self._closed = True
            claims, self._claims = self._claims, None
        if claims is not None:
            claims.close()

    def _claim_statements(self) -> _ClaimStatements | None:
        if not getattr(self._db.auto.dialect, "update_returning", False):
            return None  # SQLAlchemy 1.4, old SQLite: the transaction below
        with self._claims_lock:
            if self._claims is None and not self._closed:
                self._claims = _ClaimStatements(self._db)
            return self._claims

    def claim_due(
        self,
        limit: int,
        worker_id: str,
        names: Collection[str],
        queues: Collection[str] = (DEFAULT_QUEUE,),
        now: datetime | None = None,
    ) -> list[str]:
        """The uuids :meth:`claim` claims (same arguments)."""
        return [found.uuid for found in self.claim(limit, worker_id, names, queues, now)]

    def claim(
        self,
        limit: int,
        worker_id: str,
        names: Collection[str],
        queues: Collection[str] = (DEFAULT_QUEUE,),
        now: datetime | None = None,
    ) -> list[Claimed]:
        """Claim up to ``limit`` due PENDING tasks meant for worker processes, among
        those named one of ``names`` (registered in the worker) on one of ``queues``
        (``default``: rows without a queue).

        Oldest first. On PostgreSQL, candidate rows are locked with ``SKIP LOCKED`` so
        concurrent workers take different tasks instead of queueing on the same ones;
        on SQLite the write serializes workers. Rows of other names or queues are not
        touched. Returns the claimed rows with their arguments, oldest first: whoever
        runs them needs to read nothing more.
        """
        if limit <= 0 or not names or not queues:
            return []
        now = now or utcnow()
        statements = self._claim_statements()
        if statements is not None:
            with translate_errors(self.url):
                return statements.claim(limit, worker_id, names, queues, now)
        pending = [s.value for s in sources_of(TaskStatus.IN_PROGRESS)]

        def due_of(status: Any) -> Any:
            return and_(
                status.in_(pending),
                _t.executor == WORKER_EXECUTOR,
                or_(_t.not_before.is_(None), _t.not_before <= now),
            )

        due = due_of(_t.status)
        dialect = self._db.dialect
        candidates = (
            select(_t.uuid)
            # A row's name and queue never change: the guarded update below needs
            # only the status and due time again.
            .where(due, among(_t.name, names, dialect), queue_filter(queues, dialect))
            .order_by(_t.created_at, _t.uuid)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        values = _move_values(
            TaskStatus.IN_PROGRESS, now, {"abort_reason": None, "worker_id": worker_id}
        )
        with translate_errors(self.url), self._db.tx.begin() as conn:
            uuids = list(conn.execute(candidates).scalars())
            claimed = []
            for task_uuid in uuids:
                count = conn.execute(
                    update(tasks)
                    .where(_t.uuid == task_uuid, due_of(unindexed(_t.status)))
                    .values(values)
                ).rowcount
                if count:
                    claimed.append(task_uuid)
            if not claimed:
                return []
            read = select(*(_t[name] for name in CLAIMED_COLUMNS)).where(_t.uuid.in_(claimed))
            rows = {row[0]: Claimed(tuple(row)) for row in conn.execute(read)}
        return [rows[task_uuid] for task_uuid in claimed if task_uuid in rows]

    def heartbeat(self, beats: Iterable[tuple[str, int]], now: datetime | None = None) -> set[str]:
        """Renew the lease of each (uuid, attempt) still running; return those renewed.

        A row that moved on (reaped, finished, retried as a newer attempt) is not
        renewed: its absence from the result is how an attempt learns it lost its lease.
        """
        now = now or utcnow()
        renewed = set()
        with translate_errors(self.url), self._db.tx.begin() as conn:
            for task_uuid, attempt in beats:
                count = conn.execute(
                    update(tasks)
                    .where(
                        _t.uuid == task_uuid,
                        _t.attempt == attempt,
                        unindexed(_t.status).in_(_RUNNING),
                    )
                    .values(heartbeat_at=now)
                ).rowcount
                if count:
                    renewed.add(task_uuid)
        return renewed

    def reap(self, lease: float, now: datetime | None = None, limit: int = 100) -> list[Reaped]:
        """End running attempts whose heartbeat is older than ``lease`` seconds.

        Each move is guarded by the heartbeat value that was read: an attempt that
        renews its lease in the meantime is left alone.
        """
        now = now or utcnow()
        cutoff = now - timedelta(seconds=lease)
        expired = (
            select(tasks)
            .where(
                _t.status.in_(_RUNNING),
                or_(_t.heartbeat_at.is_(None), _t.heartbeat_at < cutoff),
            )
            .order_by(_t.heartbeat_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        reaped: list[Reaped] = []
        with translate_errors(self.url), self._db.tx.begin() as conn:
            for row in conn.execute(expired).all():
                done = self._reap_one(
                    conn, row._mapping, lease_lapsed(lease), now, check_heartbeat=True
                )
                if done is not None:
                    reaped.append(done)
        return reaped

    def lose(self, task_uuid: str, attempt: int, why: str) -> Reaped | None:
        """End one running attempt known to be lost (its process died), as the reaper
        would once its lease ran out, without waiting for that."""
        query = (
            select(tasks)
            .where(_t.uuid == task_uuid, _t.attempt == attempt, unindexed(_t.status).in_(_RUNNING))
            .with_for_update()
        )
        with translate_errors(self.url), self._db.tx.begin() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            return self._reap_one(conn, row._mapping, why, utcnow(), check_heartbeat=False)

    def _reap_one(
        self, conn: Connection, row: Any, why: str, now: datetime, *, check_heartbeat: bool
    ) -> Reaped | None:
        status = TaskStatus(row["status"])
        decision = reaping(status, row["attempt"], row["retries"], row["abort_reason"], why)
        if decision is None:
            return None
        values: dict[str, Any] = {"error_message": decision.message, "worker_id": None}
        if decision.retries:
            if row["executor"] == CELERY_EXECUTOR:
                # No message is queued for the retry yet: a Celery worker's keeper
                # sends one for every PENDING celery row without a message id.
                values["celery_task_id"] = None
            else:
                # The process that ran it is presumed dead: workers take the retry.
                values["executor"] = WORKER_EXECUTOR
            values.update(
                attempt=row["attempt"] + 1,
                not_before=now + timedelta(seconds=row["retry_delay"] or 0.0),
                abortable=False,
                exception_type="WorkerLost",
                stack_trace=None,
            )
        else:
            values.update(exception_type="WorkerLost", stack_trace=None)
        guard = [
            _t.uuid == row["uuid"],
            unindexed(_t.status) == status.value,
            _t.attempt == row["attempt"],
        ]
        if check_heartbeat:
            # A heartbeat that lands meanwhile proves the attempt alive: leave it be.
            heartbeat = row["heartbeat_at"]
            guard.append(
                _t.heartbeat_at.is_(None) if heartbeat is None else _t.heartbeat_at == heartbeat
            )
        count = conn.execute(
            update(tasks).where(*guard).values(_move_values(decision.status, now, values))
        ).rowcount
        if not count:
            return None
        return Reaped(
            uuid=row["uuid"],
            name=row["name"],
            scope=row["scope"],
            task_key=row["task_key"],
            created_by=row["created_by"],
            attempt=row["attempt"],
            decision=decision,
        )

    def arguments(self, task_uuid: str) -> str | None:
        """The JSON arguments a task was scheduled with (None when not stored)."""
        with translate_errors(self.url), self._db.auto.connect() as conn:
            value = conn.execute(select(_t.arguments).where(_t.uuid == task_uuid)).scalar()
        return None if value is None else str(value)

    def watch(self, uuids: Collection[str]) -> dict[str, Watched]:
        """Status and hard-stop fields of the given tasks (missing ones are left out)."""
        if not uuids:
            return {}
        query = select(
            _t.uuid,
            _t.status,
            _t.attempt,
            _t.abort_reason,
            _t.started_at,
            _t.timeout,
            _t.kill_after,
            _t.aborting_since,
        ).where(_t.uuid.in_(list(uuids)))
        with translate_errors(self.url), self._db.auto.connect() as conn:
            rows = conn.execute(query).all()
        return {
            row.uuid: Watched(
                uuid=row.uuid,
                status=TaskStatus(row.status),
                attempt=int(row.attempt),
                abort_reason=row.abort_reason,
                started_at=row.started_at,
                timeout=row.timeout,
                kill_after=row.kill_after,
                aborting_since=row.aborting_since,
            )
            for row in rows
        }

    def end_killed(self, watched: Watched, message: str, now: datetime | None = None) -> bool:
        """After a hard stop: the killed attempt ends ABORTED or TIMED_OUT, with ``message``.

        An IN_PROGRESS task (it outlived an unenforceable timeout) passes through
        ABORTING, as the transition table requires.
        """
        now = now or utcnow()
        reason = watched.abort_reason
        with translate_errors(self.url), self._db.tx.begin() as conn:

            def move(source: TaskStatus, target: TaskStatus, values: dict[str, Any]) -> bool:
                return bool(
                    conn.execute(
                        update(tasks)
                        .where(
                            _t.uuid == watched.uuid,
                            unindexed(_t.status) == source.value,
                            _t.attempt == watched.attempt,
                        )
                        .values(_move_values(target, now, values))
                    ).rowcount
                )

            if watched.status is TaskStatus.IN_PROGRESS:
                reason = ABORT_REASON_TIMEOUT
                if not move(TaskStatus.IN_PROGRESS, TaskStatus.ABORTING, {"abort_reason": reason}):
                    return False
            return move(
                TaskStatus.ABORTING,
                status_after_abort(reason, handler_failed=False),
                {"error_message": message, "exception_type": "Killed", "worker_id": None},
            )
