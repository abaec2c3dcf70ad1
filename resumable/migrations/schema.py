"""Every SQL table resumable owns, written once in SQLAlchemy Core.

Table names carry a ``resumable_`` prefix so they can share a database (an Airflow
metadata database, an application's) without colliding.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

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

tasks = Table(
    "resumable_tasks",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("task_key", String(512), nullable=True),
    Column("task_name", String(512), nullable=True),
    Column("scope", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    # Set only while the task is active (pending, in progress, aborting) and cleared by
    # the move to a terminal status: the unique index then lets exactly one active task
    # hold a dedup identity, while finished ones free it.
    Column("active_dedup_key", String(64), nullable=True, unique=True),
    Column("attempt", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("retry_delay", Float, nullable=False),
    Column("timeout", Float, nullable=True),
    Column("abortable", Boolean, nullable=False),
    Column("abort_reason", String(16), nullable=True),
    Column("timeout_unenforceable", Boolean, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("arguments", Text, nullable=True),
    Column("progress_current", Float, nullable=True),
    Column("progress_total", Float, nullable=True),
    Column("progress_fraction", Float, nullable=True),
    # No longer written (migration 6): the ETA is computed when read, from started_at
    # and the fraction done since progress_start_fraction. Kept for older readers.
    Column("progress_eta", Float, nullable=True),
    Column("progress_start_fraction", Float, nullable=True),
    Column("progress_updated_at", UTCDateTime, nullable=True),
    Column("payload", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("exception_type", String(255), nullable=True),
    Column("stack_trace", Text, nullable=True),
    # A pending task is not claimed before this moment (retry_delay between attempts).
    Column("not_before", UTCDateTime, nullable=True),
    # Leases (migration 3): a running attempt renews heartbeat_at; the reaper ends
    # attempts whose heartbeat is older than the lease. worker_id names the process.
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Column("worker_id", String(255), nullable=True),
    # Hard stop: seconds a task may ignore an abort or timeout before its process is
    # killed (worker executor only); aborting_since starts that clock.
    Column("kill_after", Float, nullable=True),
    # Which executor runs the task: "worker" rows are claimed by `resumable worker`
    # processes; the others by the process that scheduled them (NULL: before v3).
    Column("executor", String(16), nullable=True),
    Column("aborting_since", UTCDateTime, nullable=True),
    # Celery executor (migration 5): the id of the Celery message that runs (or will
    # run) the current attempt; NULL on a PENDING celery row means no message was sent
    # for it yet (a reaped attempt), so a Celery worker's keeper sends one.
    Column("celery_task_id", String(255), nullable=True),
    # Migration 7: the queue a worker must serve to claim the task (NULL: the default
    # queue), and the function's return value as canonical JSON once it succeeded.
    Column("queue", String(255), nullable=True),
    Column("result", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_resumable_tasks_status_not_before", "status", "not_before"),
    Index("ix_resumable_tasks_status_heartbeat_at", "status", "heartbeat_at"),
    Index("ix_resumable_tasks_ended_at", "ended_at"),
    Index("ix_resumable_tasks_created_at", "created_at"),
    # Listing filters of the REST API and the task page (migration 4), newest first.
    Index("ix_resumable_tasks_name_created_at", "name", "created_at"),
    Index("ix_resumable_tasks_status_created_at", "status", "created_at"),
    Index("ix_resumable_tasks_created_by_created_at", "created_by", "created_at"),
    # Claiming by registered name and queue (migration 7).
    Index("ix_resumable_tasks_status_queue_name", "status", "queue", "name"),
)

task_subscribers = Table(
    "resumable_task_subscribers",
    metadata,
    Column(
        "task_uuid",
        String(36),
        ForeignKey("resumable_tasks.uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(255), primary_key=True),
    Column("subscribed_at", UTCDateTime, nullable=False),
    Index("ix_resumable_task_subscribers_user_id", "user_id"),
)

# Bearer tokens of the REST API (migration 4). Only a SHA-256 of each token is kept: the
# tokens are long random strings, so a fast hash is enough to make a leaked table useless.
api_tokens = Table(
    "resumable_api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(255), nullable=False),
    Column("admin", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_resumable_api_tokens_user_id", "user_id"),
)

# Live workers (migration 7): each `resumable worker` (and each Celery worker with
# resumable loaded) keeps one row with the task names and queues it can run, so
# listings can mark a pending task that no live worker can run.
workers = Table(
    "resumable_workers",
    metadata,
    Column("worker_id", String(255), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("engine", String(16), nullable=False),
    Column("task_names", Text, nullable=False),
    Column("queues", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Index("ix_resumable_workers_heartbeat_at", "heartbeat_at"),
)
