"""Every SQL table resumable owns, written once in SQLAlchemy Core.

Table names carry a ``resumable_`` prefix so they can share a database (an Airflow
metadata database, an application's) without colliding.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from resumable._db.types import UTCDateTime

metadata = MetaData()

schema_version = Table(
    "resumable_schema_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

state = Table(
    "resumable_state",
    metadata,
    Column("namespace", String(512), primary_key=True),
    Column("scope_key", String(512), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_resumable_state_expires_at", "expires_at"),
)

attempts = Table(
    "resumable_attempts",
    metadata,
    Column("namespace", String(512), primary_key=True),
    Column("scope_key", String(512), primary_key=True),
    Column("attempt", Integer, nullable=False),
)
