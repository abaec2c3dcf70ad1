"""The task table: creation with dedup, compare-and-set moves, subscribers, pruning.

Written once in SQLAlchemy Core for SQLite and PostgreSQL. Every status change is one
``UPDATE … WHERE uuid = :uuid AND status IN (sources)`` whose sources come from the
transition table, so concurrent writers (a runner finishing, a user cancelling, a
timeout firing) can never produce a move the table forbids: the first writer wins and
the others see zero rows updated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from resumable._db.dialect import array_literal, dialect_insert
from resumable._db.engine import Database, open_database, translate_errors
from resumable._db.planner import unindexed
from resumable._db.types import utcnow
from resumable._errors import StoreUnavailableError
from resumable.migrations import migrate
from resumable.migrations.schema import task_subscribers, tasks
from resumable.store._sql_direct import CompiledStatement
from resumable.tasks._models import TaskRecord, TaskStatus
from resumable.tasks._permissions import Actor
from resumable.tasks._rows import NewTask, TaskFilters, _conditions, _move_values, _record
from resumable.tasks._statements import HotStatements
from resumable.tasks._transitions import TERMINAL, sources_of

_t = tasks.c
_s = task_subscribers.c
T = TypeVar("T")


@functools.lru_cache(maxsize=8)
def _names_literal(names: tuple[str, ...]) -> str:
    """The claim's task names as one array literal: a worker's registered names rarely
    change, so each claim need not sort and quote them again."""
    return array_literal(names)


class TaskRepository:
    """All SQL of the task framework, over one database URL."""

    def __init__(self, url: str) -> None:
        self._db: Database = open_database(url)
        self.url = self._db.url
        migrate(self._db)
        self._get = select(tasks).where(_t.uuid == bindparam("uuid"))
        self._get_status = select(_t.status, _t.abort_reason).where(_t.uuid == bindparam("uuid"))
        self._subscribers_of = (
            select(_s.task_uuid, _s.user_id)
            .where(_s.task_uuid.in_(bindparam("uuids", expanding=True)))
            .order_by(_s.subscribed_at, _s.user_id)
        )
        self._insert_task = insert(tasks)
        self._add_subscriber = dialect_insert(
            task_subscribers, self._db.dialect
        ).on_conflict_do_nothing()
        self._hot = HotStatements(self._db)

    @property
    def database(self) -> Database:
        """The opened database (for the checkpoint store and tests)."""
        return self._db

    def close(self) -> None:
        """Release pooled connections."""
        self._hot.close()
        self._db.dispose()

    # -- helpers ----------------------------------------------------------------------

    def _in_tx(self, work: Callable[[Connection], T]) -> T:
        with translate_errors(self.url), self._db.tx.begin() as conn:
            return work(conn)

    def _records(self, conn: Connection, rows: Iterable[Row[Any]]) -> list[TaskRecord]:
        rows = list(rows)
        if not rows:
            return []
        subscribers: dict[str, list[str]] = {row._mapping["uuid"]: [] for row in rows}
        for task_uuid, user_id in conn.execute(self._subscribers_of, {"uuids": list(subscribers)}):
            subscribers[task_uuid].append(user_id)
        return [_record(row, subscribers[row._mapping["uuid"]]) for row in rows]

    def _locked(self, conn: Connection, task_uuid: str) -> TaskRecord | None:
        # FOR UPDATE serializes cancel, join and runner moves on PostgreSQL; SQLite's
        # BEGIN IMMEDIATE already serializes every writer.
        row = conn.execute(self._get.with_for_update(), {"uuid": task_uuid}).first()
        return None if row is None else self._records(conn, [row])[0]

    # -- creation and dedup -----------------------------------------------------------

    def create(self, new: NewTask, *, started: bool = False) -> tuple[TaskRecord, bool]:
        """Insert a PENDING task, or join the active task holding the same dedup key.

        ``started``: insert it IN_PROGRESS instead, claimed by the caller, which runs
        it at once (a direct call): creating and starting is then one statement, and
        no other runner can ever claim that first attempt.

        Returns the task and whether this call created it. Race-free across processes:
        the unique index on ``active_dedup_key`` lets one insert win; every loser adds
        itself as a subscriber of the winner. If the winner ends before a loser can
        join, the loser tries to insert again.
        """
        while True:
            try:
                return self._insert(new, started), True
            except (IntegrityError, self._hot.integrity_error):
                if new.active_dedup_key is None:
                    raise
            joined = self._in_tx(lambda conn: self._join(conn, new))
            if joined is not None:
                return joined, False

    def _insert(self, new: NewTask, started: bool = False) -> TaskRecord:
        now = utcnow()
        status = TaskStatus.IN_PROGRESS if started else TaskStatus.PENDING
        row = {
            "uuid": new.uuid,
            "name": new.name,
            "task_key": new.task_key,
            "task_name": new.task_name,
            "scope": new.scope.value,
            "status": status.value,
            "active_dedup_key": new.active_dedup_key,
            "attempt": 1,
            "retries": new.retries,
            "retry_delay": new.retry_delay,
            "timeout": new.timeout,
            "abortable": new.abortable,
            "timeout_unenforceable": False,
            "created_by": new.created_by,
            "arguments": new.arguments,
            "kill_after": new.kill_after,
            "executor": new.executor,
            "celery_task_id": new.celery_task_id,
            "queue": new.queue,
            "not_before": new.not_before,
            "created_at": now,
            "updated_at": now,
            # Started: claimed by its creator, and the claim is the first heartbeat.
            "started_at": now if started else None,
            "heartbeat_at": now if started else None,
        }
        if new.created_by is None:
            # One INSERT is atomic by itself: no transaction round trips needed.
            self._hot.insert_row(row)
        else:
            subscriber = {"task_uuid": new.uuid, "user_id": new.created_by, "subscribed_at": now}

            def insert_both(conn: Connection) -> None:
                conn.execute(self._insert_task, row)
                conn.execute(self._add_subscriber, subscriber)

            self._in_tx(insert_both)
        # Everything in the row is known: no need to read it back.
        return TaskRecord(
            uuid=new.uuid,
            name=new.name,
            task_key=new.task_key,
            task_name=new.task_name,
            scope=new.scope,
            status=status,
            attempt=1,
            retries=new.retries,
            timeout=new.timeout,
            abortable=new.abortable,
            abort_reason=None,
            timeout_unenforceable=False,
            created_by=new.created_by,
            progress_current=None,
            progress_total=None,
            progress_fraction=None,
            progress_start_fraction=None,
            progress_updated_at=None,
            payload=None,
            error_message=None,
            exception_type=None,
            stack_trace=None,
            created_at=now,
            started_at=now if started else None,
            ended_at=None,
            not_before=new.not_before,
            celery_task_id=new.celery_task_id,
            subscribers=[] if new.created_by is None else [new.created_by],
            retry_delay=new.retry_delay,
            queue=new.queue,
        )

    def _join(self, conn: Connection, new: NewTask) -> TaskRecord | None:
        row = conn.execute(
            select(tasks).where(_t.active_dedup_key == new.active_dedup_key).with_for_update()
        ).first()
        if row is None:
            return None
        task_uuid = row._mapping["uuid"]
        if new.created_by is not None:
            conn.execute(
                self._add_subscriber,
                {"task_uuid": task_uuid, "user_id": new.created_by, "subscribed_at": utcnow()},
            )
        return self._locked(conn, task_uuid)

    # -- reads ------------------------------------------------------------------------

    def get(self, task_uuid: str, *, subscribers: bool = True) -> TaskRecord | None:
        """The task with ``task_uuid``, or None (``subscribers=False``: left empty)."""
        if not subscribers:
            found = self._hot.fetch(task_uuid)
            return None if found is None else _record(found, [])
        with translate_errors(self.url), self._db.auto.connect() as conn:
            row = conn.execute(self._get, {"uuid": task_uuid}).first()
            if row is None:
                return None
            return self._records(conn, [row])[0] if subscribers else _record(row, [])

    def get_to_run(self, task_uuid: str) -> tuple[TaskRecord, str | None] | None:
        """The task (subscribers left empty) and its stored JSON arguments, in one read:
        what a worker's child needs to run a claimed attempt."""
        found = self._hot.fetch(task_uuid)
        if found is None:
            return None
        arguments = found["arguments"]
        return _record(found, []), None if arguments is None else str(arguments)

    def uuids_starting_with(self, prefix: str, limit: int = 10) -> list[str]:
        """Up to ``limit`` task uuids beginning with ``prefix`` (command-line shorthand)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (
            select(_t.uuid)
            .where(_t.uuid.like(escaped + "%", escape="\\"))
            .order_by(_t.uuid)
            .limit(limit)
        )
        with translate_errors(self.url), self._db.auto.connect() as conn:
            return [str(found) for found in conn.execute(query).scalars()]

    def status(self, task_uuid: str) -> tuple[TaskStatus, str | None] | None:
        """(status, abort reason) of a task, or None when it does not exist."""
        with translate_errors(self.url), self._db.auto.connect() as conn:
            row = conn.execute(self._get_status, {"uuid": task_uuid}).first()
        return None if row is None else (TaskStatus(row[0]), row[1])

    def list(
        self,
        actor: Actor,
        *,
        statuses: Iterable[TaskStatus] | None,
        limit: int,
        offset: int = 0,
        filters: TaskFilters | None = None,
    ) -> list[TaskRecord]:
        """Tasks ``actor`` may see, newest first."""
        query = select(tasks).order_by(_t.created_at.desc(), _t.uuid).limit(limit).offset(offset)
        query = query.where(*_conditions(actor, statuses, filters))
        with translate_errors(self.url), self._db.auto.connect() as conn:
            return self._records(conn, conn.execute(query))

    def count(
        self,
        actor: Actor,
        *,
        statuses: Iterable[TaskStatus] | None,
        filters: TaskFilters | None = None,
    ) -> int:
        """How many tasks ``actor`` may see (with the same filters as :meth:`list`)."""
        query = select(func.count()).select_from(tasks)
        query = query.where(*_conditions(actor, statuses, filters))
        with translate_errors(self.url), self._db.auto.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -- moves ------------------------------------------------------------------------

    def move(
        self,
        task_uuid: str,
        target: TaskStatus,
        values: Mapping[str, Any] | None = None,
        *,
        only_from: Iterable[TaskStatus] | None = None,
        attempt: int | None = None,
    ) -> bool:
        """Compare-and-set ``target`` from any allowed source; True when this call won.

        ``only_from`` narrows the allowed sources (it never widens them). ``attempt``:
        move only while the row is still at that attempt, so an attempt that was reaped
        and retried elsewhere (a paused zombie) cannot end its successor's run.
        """
        sources = set(sources_of(target))
        if only_from is not None:
            sources &= set(only_from)
        where = [_t.uuid == task_uuid, unindexed(_t.status).in_([s.value for s in sources])]
        if attempt is not None:
            where.append(_t.attempt == attempt)
        statement = update(tasks).where(*where).values(_move_values(target, utcnow(), values or {}))
        with translate_errors(self.url), self._db.auto.connect() as conn:
            count = conn.execute(statement).rowcount
            conn.commit()
        return bool(count)

    def claim(self, task_uuid: str) -> TaskRecord | None:
        """PENDING -> IN_PROGRESS if due; the claimed record, or None if another writer won.

        This compare-and-set is the one way a task starts, so a task aborted while
        pending never starts, and two runners (threads, or worker processes picking
        PENDING rows) never both run one attempt.
        """
        # The runner never needs the subscribers: RETURNING (or one read) gives the rest.
        found = self._hot.move_returning(self._hot.claim, task_uuid, utcnow())
        return None if found is None else _record(found, [])

    def succeed(
        self,
        task_uuid: str,
        attempt: int,
        result: str | None = None,
        *,
        pg_channel: str | None = None,
    ) -> tuple[TaskRecord | None, bool]:
        """IN_PROGRESS -> SUCCESS for ``attempt``, storing ``result`` (canonical JSON of
        the return value, None for none).

        ``pg_channel``: on PostgreSQL, also ``pg_notify`` the task's uuid on that
        channel in the same statement (sent only if the move commits).

        Returns the final record (subscribers left empty), or None when another writer
        moved the task first; and whether the signal was sent with it.
        """
        hot = self._hot

        def move(statement: Any, **extra: Any) -> TaskRecord | None:
            found = hot.move_returning(
                statement, task_uuid, utcnow(), attempt=attempt, result=result, **extra
            )
            return None if found is None else _record(found, [])

        return self._succeed(move, hot.succeed_notify, hot.succeed, pg_channel)

    def succeed_unread(
        self,
        task_uuid: str,
        attempt: int,
        result: str | None = None,
        *,
        pg_channel: str | None = None,
    ) -> tuple[bool, bool]:
        """:meth:`succeed` for a runner that needs no final record (nobody reads it
        there): whether this call won, and whether the signal was sent with it."""
        hot = self._hot

        def move(statement: Any, **extra: Any) -> bool:
            return hot.move_won(
                statement, task_uuid, utcnow(), attempt=attempt, result=result, **extra
            )

        return self._succeed(move, hot.succeed_key_notify, hot.succeed_key, pg_channel)

    def _succeed(
        self,
        move: Callable[..., T],
        with_signal: CompiledStatement | None,
        alone: CompiledStatement,
        pg_channel: str | None,
    ) -> tuple[T, bool]:
        if with_signal is not None and pg_channel is not None:
            try:
                found = move(with_signal, channel=pg_channel)
            except StoreUnavailableError:
                # Refused as a whole (its NOTIFY queue full, or the connection lost):
                # the move alone, as below; the caller signals the usual way.
                pass
            else:
                return found, bool(found)
        return move(alone), False

    @property
    def claims_named(self) -> bool:
        """Whether :meth:`claim_named` is available (PostgreSQL)."""
        return self._hot.claim_named is not None

    def claim_named(
        self,
        task_uuid: str,
        names: Collection[str],
        worker_id: str,
        message_id: str | None,
    ) -> tuple[TaskRecord, str | None] | None:
        """PENDING -> IN_PROGRESS if due and named one of ``names``, recording the
        worker and message running it, in one round trip on a kept connection (no
        pool pre-ping). Returns the record and its JSON arguments, or None when
        another writer won (or the task is not due, not known here, or gone).

        Raises:
            NotImplementedError: not on this database (see :attr:`claims_named`).
        """
        statement = self._hot.claim_named
        if statement is None:
            raise NotImplementedError("claim_named needs PostgreSQL")
        found = self._hot.move_returning(
            statement,
            task_uuid,
            utcnow(),
            names=_names_literal(tuple(names)),
            worker_id=worker_id,
            message=message_id,
        )
        if found is None:
            return None
        arguments = found.pop("arguments")
        return _record(found, []), None if arguments is None else str(arguments)

    def send_back_for_retry(
        self,
        task_uuid: str,
        attempt: int,
        not_before: datetime,
        values: Mapping[str, Any],
        *,
        abortable: bool = False,
    ) -> bool:
        """IN_PROGRESS -> PENDING with ``attempt + 1``; False if another writer won.

        ``abortable``: whether the task stays abortable while pending for the next
        attempt (``@task(abortable=True)``); otherwise the next attempt's own abort
        handlers make it so again.
        """
        return self.move(
            task_uuid,
            TaskStatus.PENDING,
            {**values, "attempt": attempt + 1, "not_before": not_before, "abortable": abortable},
            attempt=attempt,
        )

    def abort_in(self, conn: Connection, record: TaskRecord, reason: str) -> TaskStatus | None:
        """Inside a transaction holding the row: PENDING -> ABORTED, or an abortable
        IN_PROGRESS -> ABORTING. The new status, or None when neither applies."""
        now = utcnow()
        if record.status is TaskStatus.PENDING:
            target = TaskStatus.ABORTED
        elif record.status is TaskStatus.IN_PROGRESS and record.abortable:
            target = TaskStatus.ABORTING
        else:
            return None
        count = conn.execute(
            update(tasks)
            .where(_t.uuid == record.uuid, unindexed(_t.status) == record.status.value)
            .values(_move_values(target, now, {"abort_reason": reason}))
        ).rowcount
        return target if count else None

    def request_timeout_abort(self, task_uuid: str, reason: str) -> bool:
        """An abortable IN_PROGRESS -> ABORTING (the timeout's own compare-and-set)."""
        statement = (
            update(tasks)
            .where(
                _t.uuid == task_uuid,
                unindexed(_t.status) == TaskStatus.IN_PROGRESS.value,
                _t.abortable.is_(True),
            )
            .values(_move_values(TaskStatus.ABORTING, utcnow(), {"abort_reason": reason}))
        )
        with translate_errors(self.url), self._db.auto.connect() as conn:
            count = conn.execute(statement).rowcount
            conn.commit()
        return bool(count)

    def with_locked(self, task_uuid: str, work: Callable[[Connection, TaskRecord | None], T]) -> T:
        """Run ``work`` in a transaction holding the task's row (cancel decisions)."""
        return self._in_tx(lambda conn: work(conn, self._locked(conn, task_uuid)))

    def remove_subscriber_in(self, conn: Connection, task_uuid: str, user_id: str) -> bool:
        """Inside a transaction: unsubscribe ``user_id``; True when it was subscribed."""
        count = conn.execute(
            delete(task_subscribers).where(_s.task_uuid == task_uuid, _s.user_id == user_id)
        ).rowcount
        return bool(count)

    # -- updates that are not moves ---------------------------------------------------

    def update_active(self, task_uuid: str, values: Mapping[str, Any]) -> bool:
        """Write ``values`` while the task is active (progress, flags); True if written."""
        statement = (
            update(tasks)
            .where(
                _t.uuid == task_uuid,
                unindexed(_t.status).in_([s.value for s in TaskStatus if s not in TERMINAL]),
            )
            .values({**values, "updated_at": utcnow()})
        )
        with translate_errors(self.url), self._db.auto.connect() as conn:
            count = conn.execute(statement).rowcount
            conn.commit()
        return bool(count)

    # -- pruning ----------------------------------------------------------------------

    def prune(self, cutoff: datetime, max_rows: int, batch_size: int = 1000) -> int:
        """Delete terminal tasks that ended before ``cutoff``, oldest first, in batches."""
        terminal = [s.value for s in TERMINAL]
        deleted = 0
        while deleted < max_rows:
            limit = min(batch_size, max_rows - deleted)

            def batch(conn: Connection, limit: int = limit) -> int:
                uuids = list(
                    conn.execute(
                        select(_t.uuid)
                        .where(_t.status.in_(terminal), _t.ended_at < cutoff)
                        .order_by(_t.ended_at, _t.uuid)
                        .limit(limit)
                    ).scalars()
                )
                if not uuids:
                    return 0
                conn.execute(delete(task_subscribers).where(_s.task_uuid.in_(uuids)))
                return int(
                    conn.execute(
                        delete(tasks).where(_t.uuid.in_(uuids), unindexed(_t.status).in_(terminal))
                    ).rowcount
                )

            count = self._in_tx(batch)
            deleted += count
            if count < limit:
                break
        return deleted
