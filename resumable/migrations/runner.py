"""Applying migrations safely while other processes may be doing the same."""

from __future__ import annotations

import logging

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection

from resumable._db.engine import Database, translate_errors
from resumable.migrations import schema
from resumable.migrations.versions import MIGRATIONS

log = logging.getLogger(__name__)

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this release of resumable expects."""

# Arbitrary constant: every resumable process agrees on it for pg_advisory_xact_lock.
_PG_LOCK_KEY = 7_265_420_117


def _read_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, schema.schema_version.name, schema=_schema_of(conn)):
        return 0
    version = conn.execute(select(schema.schema_version.c.version)).scalar()
    return int(version or 0)


def _schema_of(conn: Connection) -> str | None:
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(None)
    return schema


def current_version(database: Database) -> int:
    """The schema version the database is at (0 when resumable never touched it)."""
    with translate_errors(database.url), database.auto.connect() as conn:
        return _read_version(conn)


def migrate(database: Database) -> list[int]:
    """Bring the database to :data:`SCHEMA_VERSION`; return the versions applied.

    Safe to call from many processes at once: PostgreSQL serializes on an advisory
    lock, SQLite on its write lock (``BEGIN IMMEDIATE``). DDL is transactional on both,
    so a crash mid-migration leaves the previous version intact.
    """
    if current_version(database) >= SCHEMA_VERSION:
        return []
    applied: list[int] = []
    with translate_errors(database.url), database.tx.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        version = _read_version(conn)
        if version == 0:
            schema.schema_version.create(conn, checkfirst=True)
            conn.execute(insert(schema.schema_version).values(id=1, version=0))
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            log.info("applying migration version=%d %s", migration.version, migration.description)
            migration.apply(conn)
            applied.append(migration.version)
        if applied:
            conn.execute(
                update(schema.schema_version)
                .where(schema.schema_version.c.id == 1)
                .values(version=applied[-1])
            )
    return applied
