"""The task layer's hot statements, compiled once per engine and run directly.

A no-op task is a handful of single-row statements, so what surrounds each statement
matters as much as the statement: SQLAlchemy's per-call machinery (a pool checkout
with its pre-ping round trip, compilation cache lookups, result objects) cost more
than the statements themselves on PostgreSQL. The statements below are written once in
SQLAlchemy Core, compiled once per engine, and executed through the checkpoint store's
:class:`~resumable.store._sql_direct.DirectExecutor` (kept connections, autocommit,
one retry on a broken connection), exactly as the store's own hot statements are.

Every statement here is safe to send twice after a broken connection: the insert does
nothing when its uuid already exists, and the moves are compare-and-sets that a second
try finds already made (it then reports "lost" and the caller re-reads the row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    case,
    cast,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from resumable._db.dialect import dialect_insert
from resumable._db.engine import Database
from resumable._db.planner import unindexed
from resumable._db.types import UTCDateTime
from resumable.migrations.schema import tasks
from resumable.store._sql_direct import CompiledStatement, DirectExecutor
from resumable.tasks._models import TaskStatus
from resumable.tasks._transitions import can_move, sources_of

INSERT_COLUMNS = (
    "uuid",
    "name",
    "task_key",
    "task_name",
    "scope",
    "status",
    "active_dedup_key",
    "attempt",
    "retries",
    "retry_delay",
    "timeout",
    "abortable",
    "timeout_unenforceable",
    "created_by",
    "arguments",
    "kill_after",
    "executor",
    "celery_task_id",
    "queue",
    "not_before",
    "created_at",
    "updated_at",
    "started_at",
    "heartbeat_at",
)

_INSERT_BINDS = tuple((name, f"v_{name}") for name in INSERT_COLUMNS)
_INSERT_SET = frozenset(INSERT_COLUMNS)

RECORD_COLUMNS = (
    "uuid",
    "name",
    "task_key",
    "task_name",
    "scope",
    "status",
    "attempt",
    "retries",
    "retry_delay",
    "timeout",
    "abortable",
    "abort_reason",
    "timeout_unenforceable",
    "created_by",
    "progress_current",
    "progress_total",
    "progress_fraction",
    "progress_start_fraction",
    "progress_updated_at",
    "payload",
    "error_message",
    "exception_type",
    "stack_trace",
    "created_at",
    "started_at",
    "ended_at",
    "not_before",
    "worker_id",
    "celery_task_id",
    "queue",
    "result",
)
"""The columns a ``TaskRecord`` is made of (what the moves return): not the arguments
(possibly large, and read only by a worker's child), nor bookkeeping columns."""


def _sqlite_utc(slow: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A reader of SQLite's UTC timestamp text: the C parser, SQLAlchemy's as fallback.

    SQLAlchemy writes ``YYYY-MM-DD HH:MM:SS.ffffff``, which ``fromisoformat`` reads
    several times faster than the dialect's regular expression (a finished task's row
    carries five timestamps). Anything else goes the slow way, exactly as before.
    """
    parse = datetime.fromisoformat

    def read(value: Any) -> Any:
        if value is None:
            return None
        try:
            moment = parse(value)
        except (TypeError, ValueError):
            return slow(value)
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else slow(value)

    return read


def _reader(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    try:
        reader: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).result_processor(
            dialect, None
        )
    except TypeError:
        # psycopg's numeric types want the column's type code; its floats need nothing.
        return None
    if reader is not None and dialect.name == "sqlite" and isinstance(column_type, UTCDateTime):
        return _sqlite_utc(reader)
    return reader


def _committed_lazily(value: Any) -> Any:
    """``value``, written by a statement whose commit does not wait for the WAL flush.

    ``set_config('synchronous_commit', 'off', true)`` turns the flush wait off for the
    statement's own transaction only (autocommit: the statement is the transaction);
    wrapped in a CASE that always yields ``value``, so the claim stays one statement
    and one round trip.

    Only the Celery claim is written this way, and losing it is safe: the attempt's
    final move commits synchronously, which flushes the claim's WAL record first; a
    database crash before that loses the claim itself, so the attempt's final move
    (a compare-and-set on IN_PROGRESS) finds nothing to move, the row is PENDING
    again and a keeper re-sends its message, as after a lost worker. What the claim
    saves is one WAL flush on the path from schedule to start.
    """
    flushed_later = func.set_config("synchronous_commit", "off", True)
    return case((flushed_later.is_not(None), value))


class _Rows:
    """Turns fetched tuples of some columns into ``{column: Python value}``."""

    def __init__(self, columns: Sequence[Any], dialect: Any) -> None:
        self.columns: tuple[str, ...] = tuple(column.name for column in columns)
        readers = [_reader(column.type, dialect) for column in columns]
        # Only the columns that need converting, and only their non-NULL values (every
        # reader passes NULL through): most of a row is copied as it came.
        self.readers: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
            (name, reader)
            for name, reader in zip(self.columns, readers, strict=True)
            if reader is not None
        )

    def __call__(self, raw: Any) -> dict[str, Any]:
        row = dict(zip(self.columns, raw, strict=True))
        for name, reader in self.readers:
            value = row[name]
            if value is not None:
                row[name] = reader(value)
        return row


def _move_binds(task_uuid: str, now: datetime, extra: Mapping[str, Any]) -> dict[str, Any]:
    """A move's bind values: its row, its moment, and ``p_<name>`` for each extra."""
    return {"p_uuid": task_uuid, "p_now": now, **{f"p_{k}": v for k, v in extra.items()}}


class HotStatements:
    """Compiled statements for creating, claiming, reading and finishing a task.

    Args:
        database: The task database (its ``auto`` engine's pool is shared).
    """

    def __init__(self, database: Database) -> None:
        engine: Engine = database.auto
        table: Table = tasks
        if database.schema:
            # Compiled statements bypass schema_translate_map: name the schema in a copy.
            engine = engine.execution_options(schema_translate_map=None)
            table = tasks.to_metadata(MetaData(), schema=database.schema)
        dialect: Any = engine.dialect
        self.direct = DirectExecutor(engine, database.url)
        self.integrity_error: type[Exception] = (
            getattr(dialect, "loaded_dbapi", None) or dialect.dbapi
        ).IntegrityError
        # UPDATE … RETURNING: PostgreSQL always, SQLite from 3.35 under SQLAlchemy 2.
        self.returning = bool(getattr(dialect, "update_returning", False))
        c = table.c
        recorded = [c[name] for name in RECORD_COLUMNS]
        self._full = _Rows(list(c), dialect)
        self._recorded = _Rows(recorded, dialect)
        self.columns = self._full.columns

        def compiled(statement: Any) -> CompiledStatement:
            return CompiledStatement(statement, engine)

        self.insert = compiled(
            dialect_insert(table, dialect.name)
            .values({name: bindparam(f"v_{name}") for name in INSERT_COLUMNS})
            .on_conflict_do_nothing(index_elements=["uuid"])
        )
        self.get = compiled(select(table).where(c.uuid == bindparam("p_uuid")))
        claim = (
            update(table)
            .where(
                c.uuid == bindparam("p_uuid"),
                # Literal comparisons, not IN: compiled SQL cannot expand lists.
                or_(*(unindexed(c.status) == s.value for s in sources_of(TaskStatus.IN_PROGRESS))),
                or_(c.not_before.is_(None), c.not_before <= bindparam("p_now")),
            )
            .values(
                status=TaskStatus.IN_PROGRESS.value,
                abort_reason=null(),
                updated_at=bindparam("p_now"),
                started_at=bindparam("p_now"),
                heartbeat_at=bindparam("p_now"),
                # As _move_values does for IN_PROGRESS: this attempt's ETA counts from
                # where it starts.
                progress_start_fraction=c.progress_fraction,
            )
        )
        assert can_move(TaskStatus.IN_PROGRESS, TaskStatus.SUCCESS)
        succeed = (
            update(table)
            .where(
                c.uuid == bindparam("p_uuid"),
                unindexed(c.status) == TaskStatus.IN_PROGRESS.value,
                c.attempt == bindparam("p_attempt"),
            )
            .values(
                status=TaskStatus.SUCCESS.value,
                active_dedup_key=null(),
                error_message=null(),
                exception_type=null(),
                stack_trace=null(),
                result=bindparam("p_result"),
                updated_at=bindparam("p_now"),
                ended_at=bindparam("p_now"),
            )
        )
        self.claim_named: CompiledStatement | None = None
        self.succeed_notify: CompiledStatement | None = None
        self.succeed_key_notify: CompiledStatement | None = None
        if dialect.name == "postgresql" and self.returning:
            # A runner in another process (a Celery worker) claims for itself, only the
            # names it registered, and gets the arguments with the claimed row.
            self.claim_named = compiled(
                claim.where(
                    # The names as one array literal (see array_literal): dumping a
                    # list is a driver's slowest parameter.
                    unindexed(c.name)
                    == any_(cast(bindparam("p_names", type_=String), ARRAY(String)))
                )
                .values(
                    worker_id=_committed_lazily(bindparam("p_worker_id")),
                    celery_task_id=bindparam("p_message"),
                )
                .returning(*recorded, c.arguments)
            )
            # The final move and the LISTEN/NOTIFY signal of it in one statement (one
            # round trip, one transaction: the signal leaves only if the move commits).
            moved = succeed.returning(*recorded).cte("moved")
            self.succeed_notify = compiled(
                select(
                    *(moved.c[name] for name in RECORD_COLUMNS),
                    func.pg_notify(bindparam("p_channel"), moved.c.uuid),
                )
            )
            # The same for a runner that reads nothing back (see move_won).
            moved_key = succeed.returning(c.uuid).cte("moved")
            self.succeed_key_notify = compiled(
                select(moved_key.c.uuid, func.pg_notify(bindparam("p_channel"), moved_key.c.uuid))
            )
        # The final move for a runner that needs no final record (a Celery or worker
        # process): converting the returned row into one was a seventh of a no-op
        # task's Python on the worker side.
        self.succeed_key = compiled(succeed.returning(c.uuid) if self.returning else succeed)
        if self.returning:
            claim = claim.returning(*recorded)
            succeed = succeed.returning(*recorded)
        self.claim = compiled(claim)
        self.succeed = compiled(succeed)

    def row(self, raw: Any) -> dict[str, Any]:
        """A whole fetched row as ``{column: Python value}``, types converted as
        SQLAlchemy would."""
        return self._full(raw)

    def insert_row(self, values: Mapping[str, Any]) -> bool:
        """Insert a task row; False when its uuid already existed (a retried send).

        Raises:
            The driver's IntegrityError: another active task holds the dedup key.
        """

        unknown = values.keys() - _INSERT_SET
        if unknown:  # a new column written by create() must be added above, or it is lost
            raise AssertionError(f"INSERT_COLUMNS lacks {sorted(unknown)}")

        def work(cursor: Any) -> bool:
            cursor.execute(
                self.insert.sql,
                self.insert.parameters({bind: values.get(name) for name, bind in _INSERT_BINDS}),
            )
            return bool(cursor.rowcount)

        result: bool = self.direct.call(work)
        return result

    def fetch(self, task_uuid: str) -> dict[str, Any] | None:
        """The task's row, or None."""
        raw = self.direct.fetch_one(self.get, {"p_uuid": task_uuid})
        return None if raw is None else self.row(raw)

    def move_returning(
        self, statement: CompiledStatement, task_uuid: str, now: datetime, **extra: Any
    ) -> dict[str, Any] | None:
        """Run a compare-and-set move; the moved row, or None when another writer won.

        The row is the record's columns (:data:`RECORD_COLUMNS`); columns a statement
        returns after those (the claim's arguments) come back under their names too.
        """
        values = _move_binds(task_uuid, now, extra)
        if self.returning:
            raw = self.direct.fetch_one(statement, values)
            if raw is None:
                return None
            width = len(RECORD_COLUMNS)
            row = self._recorded(raw[:width])
            if statement is self.claim_named:
                row["arguments"] = raw[width]
            return row
        if not self._count(statement, values):
            return None
        return self.fetch(task_uuid)

    def move_won(
        self, statement: CompiledStatement, task_uuid: str, now: datetime, **extra: Any
    ) -> bool:
        """Run a compare-and-set move that returns no more than its key (``succeed_key``,
        ``succeed_key_notify``); whether it won."""
        values = _move_binds(task_uuid, now, extra)
        if self.returning:
            return self.direct.fetch_one(statement, values) is not None
        return bool(self._count(statement, values))

    def _count(self, statement: CompiledStatement, values: Mapping[str, Any]) -> int:
        """Run a statement without RETURNING; the rows it changed."""

        def work(cursor: Any) -> int:
            cursor.execute(statement.sql, statement.parameters(values))
            return int(cursor.rowcount)

        count: int = self.direct.call(work)
        return count

    def close(self) -> None:
        """Give the kept connections back to the pool."""
        self.direct.close()
