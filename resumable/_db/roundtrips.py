"""Counting the round trips a piece of code makes to the database, at the driver.

For benchmarks and tests (a path's round trips are part of its contract: see
benchmarks/README.md), never used on a production path.

- PostgreSQL: every message psycopg 3 sends is counted where psycopg sends it: each
  ``Cursor.execute``/``executemany`` (our statements, the pool's pre-ping, a signal's
  ``pg_notify``) and each transaction command (``BEGIN``/``COMMIT``/``ROLLBACK``), from
  any thread of this process. Commands psycopg skips (a commit in autocommit mode)
  cost nothing and are not counted.
- SQLite: there is no network, but every statement (``BEGIN``/``COMMIT`` included) is
  still a call into the engine that may touch the disk; each is counted by SQLite's
  own trace callback, on every connection of this process.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from sqlalchemy import event
from sqlalchemy.pool import Pool


@attrs.define
class RoundTrips:
    """What one counted stretch of code sent to the database.

    Attributes:
        statements: The SQL of every statement, in order (transaction commands as
            ``BEGIN``/``COMMIT``/``ROLLBACK``; PostgreSQL pre-pings as sent).
    """

    statements: list[str] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        """The number of round trips."""
        return len(self.statements)

    def add(self, statement: str) -> None:
        """Record one round trip."""
        with self._lock:
            self.statements.append(" ".join(statement.split())[:200])

    def summary(self) -> list[str]:
        """Each statement shortened to its first words (for reports)."""
        return [" ".join(s.split()[:4]) for s in self.statements]


def _text(query: Any) -> str:
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)
    if as_string is not None:
        try:
            return str(as_string(None))
        except Exception:
            return repr(query)
    return str(query)


@contextmanager
def _psycopg_counted(trips: RoundTrips) -> Iterator[None]:
    try:
        import psycopg
        from psycopg._connection_base import BaseConnection
    except ImportError:
        yield
        return
    cursor_execute = psycopg.Cursor.execute
    cursor_executemany = psycopg.Cursor.executemany
    exec_command = BaseConnection._exec_command

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        trips.add(_text(query))
        return cursor_execute(self, query, *args, **kwargs)

    def executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        trips.add(_text(query))
        return cursor_executemany(self, query, *args, **kwargs)

    def command(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        trips.add(_text(query))
        return exec_command(self, query, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
    BaseConnection._exec_command = command  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        psycopg.Cursor.execute = cursor_execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = cursor_executemany  # type: ignore[method-assign]
        BaseConnection._exec_command = exec_command  # type: ignore[method-assign]


@contextmanager
def _sqlite_counted(trips: RoundTrips) -> Iterator[None]:
    def trace(statement: str) -> None:
        trips.add(statement)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(trace)

    # Connections opened before the count began (kept by pools and executors), then
    # every new one.
    existing = [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)]
    for connection in existing:
        with contextlib.suppress(sqlite3.ProgrammingError):  # closed
            connection.set_trace_callback(trace)
    event.listen(Pool, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Pool, "connect", on_connect)
        for connection in [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)]:
            with contextlib.suppress(sqlite3.ProgrammingError):
                connection.set_trace_callback(None)


@contextmanager
def count_round_trips() -> Iterator[RoundTrips]:
    """Count the round trips made inside the ``with`` block, from every thread."""
    trips = RoundTrips()
    with _sqlite_counted(trips), _psycopg_counted(trips):
        yield trips
