"""Creating SQLAlchemy engines for SQLite and PostgreSQL, and translating driver errors.

Two engines come out of :func:`open_database` for one URL, sharing one pool:

- ``auto``: every statement commits on its own. Single-statement operations (a get, an
  upsert, a multi-row upsert) are atomic by themselves, so they need no BEGIN/COMMIT
  round trips; this is what keeps a checkpoint write at one round trip on PostgreSQL.
- ``tx``: explicit transactions for multi-statement operations. On SQLite they start
  with ``BEGIN IMMEDIATE`` so that two processes never deadlock upgrading read locks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from resumable._errors import StoreUnavailableError

SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2
_WRITE_OPTION = "resumable_write"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@attrs.frozen(kw_only=True)
class Database:
    """A SQL database opened by resumable."""

    auto: Engine
    tx: Engine
    dialect: str
    url: str
    """Password-masked URL, for messages."""
    schema: str | None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.auto.dispose()


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unparseable URLs come back as is)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn driver-level failures into StoreUnavailableError naming ``url``.

    Integrity errors pass through untouched: callers (dedup, fencing) rely on them.
    """
    try:
        yield
    except IntegrityError:
        raise
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnavailableError(f"database {url} is unavailable: {reason}", url) from exc


WAL_SWITCH_WAITS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 1.0, 1.0, 1.0)
"""Pauses between tries to switch a new SQLite file to WAL while another process
holds it (about 5 s in all, as long as a busy connection waits for a lock)."""


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode, once per file.

    A file already in WAL mode is left alone: switching needs an exclusive lock, and
    asking for it on every new connection failed with "database is locked" when two
    processes opened one fresh file at once (SQLite does not wait for that lock).
    """
    import sqlite3
    import time

    for pause in (*WAL_SWITCH_WAITS, None):
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if pause is None or "locked" not in str(exc):
                raise
            time.sleep(pause)


def _sqlite_setup(engine: Engine, path: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite: we BEGIN ourselves, below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if path != ":memory:":
            _use_wal(cursor)
        # WAL + NORMAL: a commit survives the process crashing (what we protect against);
        # only an OS crash or power loss may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_engine(parsed: URL, *, create: bool) -> Engine:
    database = parsed.database or ":memory:"
    if database != ":memory:" and create:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot create the folder of SQLite database {database!r}: {exc.strerror}",
                f"sqlite:///{database}",
            ) from exc
    engine = sqlalchemy.create_engine(
        parsed.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": 30, "check_same_thread": False},
        future=True,
    )
    _sqlite_setup(engine, database)
    return engine


def _postgres_driver(drivername: str) -> str:
    if "+" in drivername:
        return drivername
    # psycopg 3 has a SQLAlchemy dialect only from SQLAlchemy 2.0; Airflow 2.x installs
    # (SQLAlchemy 1.4) ship psycopg2 instead.
    return "postgresql+psycopg" if SQLALCHEMY_2 else "postgresql+psycopg2"


def _postgres_engine(parsed: URL) -> Engine:
    query = dict(parsed.query)
    query.pop("schema", None)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        connect_args["connect_timeout"] = 10
    return sqlalchemy.create_engine(
        parsed.set(drivername=_postgres_driver(parsed.drivername), query=query),
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=20,
        future=True,
    )


def open_database(url: str, *, create: bool = True) -> Database:
    """Open a SQLite or PostgreSQL database by URL, ready for resumable's tables.

    A ``?schema=NAME`` query parameter on a PostgreSQL URL puts every resumable table in
    that schema (created when missing): one database can host isolated installations.
    ``create=False`` creates nothing (no SQLite folder, no schema): for looking only.

    Raises:
        StoreUnavailableError: unsupported URL, missing driver, or unreachable server.
    """
    masked = mask_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreUnavailableError(f"cannot parse database URL {masked!r}: {exc}", masked) from exc
    backend = parsed.get_backend_name()
    schema: str | None = None
    try:
        if backend == "sqlite":
            engine = _sqlite_engine(parsed, create=create)
        elif backend in ("postgresql", "postgres"):
            schema = parsed.query.get("schema")  # type: ignore[assignment]
            engine = _postgres_engine(
                parsed.set(
                    drivername=parsed.drivername.replace("postgres+", "postgresql+")
                    if backend == "postgres"
                    else parsed.drivername
                )
            )
        else:
            raise StoreUnavailableError(
                f"unsupported database URL {masked!r}: use sqlite:///… or postgresql://…",
                masked,
            )
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreUnavailableError(
            f"no driver for {masked!r} ({exc}); install resumable-sdk[postgres]", masked
        ) from exc
    dialect = engine.dialect.name
    if schema and not _IDENTIFIER.fullmatch(schema):
        raise StoreUnavailableError(
            f"schema {schema!r} in {masked!r} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)",
            masked,
        )
    # Options go on the base engine in one call each: SQLAlchemy 1.4 cannot set an
    # isolation level on an engine that already is an execution_options() copy.
    shared: dict[str, Any] = {"schema_translate_map": {None: schema}} if schema else {}
    auto: Engine
    if dialect != "sqlite":
        auto = engine.execution_options(isolation_level="AUTOCOMMIT", **shared)
    else:
        auto = engine.execution_options(**shared) if shared else engine
    tx = engine.execution_options(**{_WRITE_OPTION: True}, **shared)
    database = Database(auto=auto, tx=tx, dialect=dialect, url=masked, schema=schema)
    if schema and create:
        try:
            with translate_errors(masked), auto.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except IntegrityError:
            # Two processes creating the schema at once: IF NOT EXISTS is not atomic in
            # PostgreSQL, the loser hits the catalog's unique index. The schema exists.
            pass
    return database


def embedded_database_path() -> Path:
    """Where the embedded default SQLite database lives (``RESUMABLE_HOME`` overrides)."""
    home = os.environ.get("RESUMABLE_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("resumable", appauthor=False))
