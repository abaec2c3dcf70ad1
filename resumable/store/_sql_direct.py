"""Running pre-compiled Core statements directly on pooled DB-API connections.

Why this exists: a checkpoint ``get`` on SQLite takes about 7 µs of database work, while
SQLAlchemy's per-call execution machinery (``Connection``, pool checkout with its
pre-ping round trip, result objects, type processing) adds 30 to 250 µs on top, which
made ``set``/``get`` two to five times slower than the raw driver. The SQL is still
written once in SQLAlchemy Core and compiled by SQLAlchemy for the dialect; only the
execution of those few hot statements skips the machinery:

- statements are compiled once per backend (:class:`CompiledStatement`), with their bind
  processors (aware datetimes -> SQLite text), so a call only arranges parameters;
- connections come from the engine's own pool (pre-pinged there) and are kept in a
  small idle list between calls, in autocommit mode, so a single-statement write is
  one round trip and nothing else;
- multi-statement work (fenced writes, multi-key updates) runs between explicit
  ``BEGIN`` (``BEGIN IMMEDIATE`` on SQLite, so writers never deadlock) and ``COMMIT``;
- a connection found broken (server restart, idle timeout) is invalidated and the call
  retried once on a fresh one. Every statement sent here is idempotent or runs in a
  transaction that the failure rolled back, so the retry cannot apply anything twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from resumable._errors import ResumableError, StoreUnavailableError

_IDLE_LIMIT = 4
"""Connections kept checked out between calls; beyond this they go back to the pool."""

Cursor = Any
Guard = Callable[[Cursor], None]

_KEPT_CURSOR = "resumable_kept_cursor"
"""Where a PostgreSQL connection keeps the cursor :class:`DirectExecutor` reuses."""

_INHERITED_FROM_PARENT: list[Any] = []
"""Connections a forked child inherited: referenced forever, never used or closed."""


class CompiledStatement:
    """A Core statement compiled once for one dialect, ready for ``cursor.execute``."""

    __slots__ = ("_defaults", "_order", "_processors", "sql")

    def __init__(self, statement: Any, engine: Engine) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        # qmark/format paramstyles (SQLite) take a tuple in placeholder order; pyformat
        # (psycopg) takes the dict as is.
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positional else None
        )
        processors = {}
        defaults = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
            if not bind.required and bind.value is not None:
                defaults[name] = bind.value  # literals such as the 1 of `attempt + 1`
        self._processors: dict[str, Callable[[Any], Any]] = processors
        self._defaults: dict[str, Any] = defaults

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The DB-API parameters for ``values`` (bind name -> Python value)."""
        if self._defaults:
            values = {**self._defaults, **values}
        if self._processors:
            values = dict(values)
            for name, processor in self._processors.items():
                values[name] = processor(values[name])
        if self._order is None:
            return values
        return tuple(values[name] for name in self._order)


class DirectExecutor:
    """Executes :class:`CompiledStatement` objects on the engine's pooled connections.

    Thread-safe: a connection is used by one thread at a time (taken from the idle list
    or the pool, put back after the call).
    """

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._url = url
        dialect: Any = engine.dialect
        self._dialect = dialect
        self._postgres = dialect.name == "postgresql"
        self._begin = "BEGIN" if self._postgres else "BEGIN IMMEDIATE"
        dbapi = getattr(dialect, "loaded_dbapi", None) or dialect.dbapi
        self._driver_error: type[Exception] = dbapi.Error
        self._integrity_error: type[Exception] = dbapi.IntegrityError
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    # -- connections ----------------------------------------------------------------------

    def _acquire(self) -> Any:
        if self._closed:
            # Reconnecting here would open connections nothing ever closes again.
            raise StoreUnavailableError(f"store {self._url} is closed", self._url)
        if self._pid != os.getpid():
            # A forked child must not use the parent's sockets or file handles, and must
            # not let them be garbage-collected either: the pool's clean-up would send a
            # ROLLBACK down the parent's socket. Park them for good; use a fresh pool.
            _INHERITED_FROM_PARENT.extend(self._idle)
            self._idle = []
            self._pid = os.getpid()
            self._engine.dispose(close=False)
        try:
            return self._idle.pop()
        except IndexError:
            pass
        connection: Any = self._engine.pool.connect()
        if self._postgres:
            # One statement = one implicit transaction: a write is a single round trip.
            connection.dbapi_connection.autocommit = True
        return connection

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_LIMIT and not self._closed:
                self._idle.append(connection)
                return
        self._to_pool(connection)

    def _to_pool(self, connection: Any) -> None:
        if self._postgres:
            # The pool's other users (SQLAlchemy transactions) expect the driver default.
            connection.dbapi_connection.autocommit = False
        connection.close()

    def _discard_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.invalidate()

    def close(self) -> None:
        """Return every idle connection to the pool; later calls raise."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            try:
                self._to_pool(connection)
            except self._driver_error:
                connection.invalidate()

    # -- execution ------------------------------------------------------------------------

    def call(self, work: Callable[[Cursor], Any]) -> Any:
        """Run ``work(cursor)`` on a kept connection (autocommit); its result.

        The driver's IntegrityError passes through unchanged (callers deciding on a
        unique key, such as task deduplication, need it); other driver errors become
        :class:`StoreUnavailableError`. ``work`` may run twice after a broken
        connection, so it must be safe to repeat.
        """
        return self._call(work)

    def _call(self, work: Callable[[Cursor], Any]) -> Any:
        for attempt in (1, 2):
            connection = self._acquire()
            cursor = None
            try:
                cursor = self._cursor_of(connection)
                result = work(cursor)
                if not self._postgres:
                    cursor.close()
            except self._integrity_error:
                # A constraint said no; the connection is fine (any transaction of
                # ``work`` was rolled back by it).
                self._give_back(connection)
                raise
            except self._driver_error as exc:
                broken = self._dialect.is_disconnect(exc, connection.dbapi_connection, cursor)
                # Never reuse a connection after a driver error: it may still be inside
                # the transaction a failed ROLLBACK left open.
                connection.invalidate()
                if broken:
                    self._discard_idle()
                    if attempt == 1:
                        continue
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise StoreUnavailableError(
                    f"database {self._url} is unavailable: {reason}", self._url
                ) from exc
            except ResumableError:
                # Raised by our own checks (a stale attempt), after a clean ROLLBACK.
                self._give_back(connection)
                raise
            except BaseException:
                # Interrupted mid-protocol (KeyboardInterrupt, ...): state unknown.
                connection.invalidate()
                raise
            self._give_back(connection)
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _cursor_of(self, connection: Any) -> Cursor:
        """A cursor on ``connection``: on PostgreSQL the connection's own, kept with it.

        psycopg builds a cursor's type converters on first use: a cursor made per
        statement paid that for every column of every row it returned (about a third
        of the driver's time for a claim). A kept connection serves one caller at a
        time, so its cursor does too; a broken connection takes its cursor with it.
        """
        if not self._postgres:
            return connection.cursor()
        dbapi_connection = connection.dbapi_connection
        kept = connection.info.get(_KEPT_CURSOR)
        if kept is None or kept.closed or kept.connection is not dbapi_connection:
            kept = connection.info[_KEPT_CURSOR] = dbapi_connection.cursor()
        return kept

    def fetch_one(self, statement: CompiledStatement, values: Mapping[str, Any]) -> Any:
        """The first row of a query, or None."""

        def work(cursor: Cursor) -> Any:
            cursor.execute(statement.sql, statement.parameters(values))
            return cursor.fetchone()

        return self._call(work)

    def fetch_all(self, statement: CompiledStatement, values: Mapping[str, Any]) -> list[Any]:
        """Every row of a query."""

        def work(cursor: Cursor) -> list[Any]:
            cursor.execute(statement.sql, statement.parameters(values))
            return list(cursor.fetchall())

        rows: list[Any] = self._call(work)
        return rows

    def write(
        self,
        statement: CompiledStatement,
        rows: Sequence[Mapping[str, Any]],
        *,
        guard: Guard | None = None,
    ) -> None:
        """Execute ``statement`` once per row, all or nothing.

        Args:
            statement: An INSERT/UPDATE/DELETE.
            rows: Bind values, one mapping per execution.
            guard: Runs first, inside the same transaction (the fencing check); when it
                raises, nothing is written and the exception propagates.
        """
        params = [statement.parameters(row) for row in rows]

        def work(cursor: Cursor) -> None:
            if guard is None and len(params) == 1:
                # Autocommit: one statement is atomic by itself, no BEGIN/COMMIT trips.
                cursor.execute(statement.sql, params[0])
                return
            cursor.execute(self._begin)
            try:
                if guard is not None:
                    guard(cursor)
                if len(params) == 1:
                    cursor.execute(statement.sql, params[0])
                else:
                    cursor.executemany(statement.sql, params)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

        self._call(work)
