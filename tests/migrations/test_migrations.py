"""Schema migrations: fresh databases, upgrades from older versions, concurrency."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import sqlalchemy
from sqlalchemy import MetaData, Table, insert, inspect, update

from resumable._db.engine import open_database
from resumable.migrations import SCHEMA_VERSION, current_version, migrate, schema
from resumable.migrations.versions import MIGRATIONS

LEASE_COLUMNS = {"heartbeat_at", "worker_id", "kill_after", "aborting_since", "executor"}
LATER_COLUMNS = {"progress_start_fraction"}  # added after version 3


def _columns(url: str) -> set[str]:
    database = open_database(url)
    with database.auto.connect() as conn:
        names = {c["name"] for c in inspect(conn).get_columns("resumable_tasks", database.schema)}
    database.dispose()
    return names


def test_fresh_database_reaches_current_version(database_url: str) -> None:
    database = open_database(database_url)
    assert current_version(database) == 0
    assert migrate(database) == [m.version for m in MIGRATIONS]
    assert current_version(database) == SCHEMA_VERSION
    assert migrate(database) == []
    database.dispose()
    assert _columns(database_url) >= LEASE_COLUMNS


def test_upgrade_from_version_2_adds_lease_columns(database_url: str) -> None:
    database = open_database(database_url)
    # Build a version-2 database by hand: the tasks table as migration 2 first shipped it.
    old = MetaData()
    Table(
        "resumable_tasks",
        old,
        *(
            sqlalchemy.Column(
                column.name, column.type, nullable=column.nullable, primary_key=column.primary_key
            )
            for column in schema.tasks.columns
            if column.name not in LEASE_COLUMNS | LATER_COLUMNS
        ),
    )
    with database.tx.begin() as conn:
        schema.schema_version.create(conn)
        conn.execute(insert(schema.schema_version).values(id=1, version=2))
        schema.state.create(conn)
        schema.attempts.create(conn)
        old.create_all(conn)
        now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        conn.execute(
            insert(old.tables["resumable_tasks"]).values(
                uuid="u-1",
                name="n",
                scope="private",
                status="pending",
                attempt=1,
                retries=0,
                retry_delay=0.0,
                abortable=False,
                timeout_unenforceable=False,
                created_at=now,
                updated_at=now,
            )
        )
    assert not (LEASE_COLUMNS | LATER_COLUMNS) & _columns(database_url)
    assert migrate(database) == [m.version for m in MIGRATIONS if m.version > 2]
    assert _columns(database_url) >= LEASE_COLUMNS | LATER_COLUMNS
    with database.auto.connect() as conn:
        row = conn.execute(sqlalchemy.select(schema.tasks).where(schema.tasks.c.uuid == "u-1"))
        existing = row.one()._mapping  # existing rows survive
        assert existing["heartbeat_at"] is None and existing["progress_start_fraction"] is None
    database.dispose()


def test_concurrent_migrations_apply_once(database_url: str) -> None:
    errors: list[BaseException] = []
    applied: list[list[int]] = []

    def run() -> None:
        database = open_database(database_url)
        try:
            applied.append(migrate(database))
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(len(versions) for versions in applied) == [0] * 5 + [SCHEMA_VERSION]


def test_version_row_is_single(database_url: str) -> None:
    database = open_database(database_url)
    migrate(database)
    with database.tx.begin() as conn:
        conn.execute(update(schema.schema_version).values(version=SCHEMA_VERSION))
        rows = conn.execute(sqlalchemy.select(schema.schema_version)).all()
    assert len(rows) == 1
    database.dispose()


def test_version_4_adds_api_tokens_and_listing_indexes(database_url: str) -> None:
    database = open_database(database_url)
    migrate(database)
    with database.auto.connect() as conn:
        inspector = inspect(conn)
        tables = set(inspector.get_table_names(schema=database.schema))
        indexes = {i["name"] for i in inspector.get_indexes("resumable_tasks", database.schema)}
        token_columns = {
            c["name"] for c in inspector.get_columns("resumable_api_tokens", database.schema)
        }
    database.dispose()
    assert "resumable_api_tokens" in tables
    assert token_columns == {"token_hash", "user_id", "admin", "created_at"}
    assert indexes >= {
        "ix_resumable_tasks_name_created_at",
        "ix_resumable_tasks_status_created_at",
        "ix_resumable_tasks_created_by_created_at",
    }
