"""Leases, reaping and hard stops as pure decisions (the SQL lives in the repository).

A running attempt renews its lease by heartbeating. When the lease runs out, the
process running it is presumed dead (killed, OOM, preempted, paused) and any reaper may
end the attempt: retry it if retries are left, else fail it. The decisions here are
pure so every case is tested in a table.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import attrs

from resumable._errors import ConfigurationError
from resumable.tasks._models import TaskStatus
from resumable.tasks._transitions import should_retry, status_after_abort


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{what} must be a number of seconds, got {value!r}")
    if value <= 0:
        raise ConfigurationError(f"{what} must be positive, got {value!r}")
    return float(value)


def validate_kill_after(value: Any) -> float | None:
    """``kill_after`` as float seconds, or None (never kill)."""
    if value is None:
        return None
    return _seconds(value, "kill_after")


def lease_expired(heartbeat_at: datetime | None, now: datetime, lease: float) -> bool:
    """Whether an attempt last heard of at ``heartbeat_at`` has lost its lease."""
    return heartbeat_at is None or now - heartbeat_at > timedelta(seconds=lease)


@attrs.frozen
class Reaping:
    """What the reaper writes for one attempt whose lease expired."""

    status: TaskStatus
    message: str

    @property
    def retries(self) -> bool:
        """Whether the task goes back to PENDING for another attempt."""
        return self.status is TaskStatus.PENDING


def lease_lapsed(lease: float) -> str:
    """Why an attempt is lost when its heartbeat stopped."""
    return f"no heartbeat for more than {lease:g} s"


def reaping(
    status: TaskStatus, attempt: int, retries: int, abort_reason: str | None, why: str
) -> Reaping | None:
    """The move for an active attempt whose lease expired; None if there is nothing to do.

    An IN_PROGRESS attempt failed for a lost worker is retried like any failure. An
    ABORTING one was already being stopped: it ends as its abort would have
    (ABORTED / TIMED_OUT), since the process that was to run its handlers is gone.
    """
    lost = f"worker lost: {why} (attempt {attempt})"
    if status is TaskStatus.IN_PROGRESS:
        if should_retry(attempt, retries):
            return Reaping(TaskStatus.PENDING, lost + "; retrying")
        return Reaping(TaskStatus.FAILURE, lost)
    if status is TaskStatus.ABORTING:
        return Reaping(
            status_after_abort(abort_reason, handler_failed=False),
            lost + " while aborting; its abort and cleanup handlers may not have run",
        )
    return None


def kill_due(
    *,
    status: TaskStatus,
    now: datetime,
    kill_after: float | None,
    started_at: datetime | None,
    timeout: float | None,
    aborting_since: datetime | None,
) -> str | None:
    """Why the process running an attempt must be killed now, or None.

    Hard stop (beyond GTF): a task that still runs ``kill_after`` seconds after its
    abort handlers ran (it was cancelled or timed out and went on anyway), or
    ``kill_after`` seconds past a timeout it could not be asked to honour (no abort
    handler), is killed.
    """
    if kill_after is None:
        return None
    grace = timedelta(seconds=kill_after)
    if status is TaskStatus.ABORTING and aborting_since is not None:
        if now - aborting_since >= grace:
            return f"killed: still running {kill_after:g} s after it was asked to stop"
        return None
    overdue = (
        status is TaskStatus.IN_PROGRESS
        and timeout is not None
        and started_at is not None
        and now - started_at >= timedelta(seconds=timeout) + grace
    )
    if overdue:
        return (
            f"killed: still running {kill_after:g} s past its timeout of {timeout:g} s "
            "(no abort handler to ask it to stop)"
        )
    return None
