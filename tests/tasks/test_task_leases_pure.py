"""Lease, reaping and hard-stop decisions, as tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from resumable import ConfigurationError
from resumable._config import build_settings
from resumable.tasks._leases import (
    kill_due,
    lease_expired,
    lease_lapsed,
    reaping,
    validate_kill_after,
)
from resumable.tasks._models import TaskStatus as S

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("heartbeat_age", "expired"),
    [(None, True), (0.0, False), (29.9, False), (30.0, False), (30.1, True), (300.0, True)],
)
def test_lease_expired(heartbeat_age: float | None, expired: bool) -> None:
    heartbeat = None if heartbeat_age is None else NOW - timedelta(seconds=heartbeat_age)
    assert lease_expired(heartbeat, NOW, 30.0) is expired


@pytest.mark.parametrize(
    ("status", "attempt", "retries", "reason", "expected"),
    [
        (S.IN_PROGRESS, 1, 0, None, S.FAILURE),
        (S.IN_PROGRESS, 1, 1, None, S.PENDING),
        (S.IN_PROGRESS, 2, 1, None, S.FAILURE),
        (S.IN_PROGRESS, 3, 5, None, S.PENDING),
        (S.ABORTING, 1, 3, "cancel", S.ABORTED),
        (S.ABORTING, 1, 3, "timeout", S.TIMED_OUT),
        (S.ABORTING, 1, 0, None, S.ABORTED),
        (S.PENDING, 1, 3, None, None),
        (S.SUCCESS, 1, 3, None, None),
        (S.FAILURE, 1, 3, None, None),
    ],
)
def test_reaping(
    status: S, attempt: int, retries: int, reason: str | None, expected: S | None
) -> None:
    decided = reaping(status, attempt, retries, reason, lease_lapsed(30.0))
    if expected is None:
        assert decided is None
        return
    assert decided is not None
    assert decided.status is expected
    assert "no heartbeat for more than 30 s" in decided.message
    assert decided.retries is (expected is S.PENDING)


def _ago(seconds: float | None) -> datetime | None:
    return None if seconds is None else NOW - timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("status", "kill_after", "started", "timeout", "aborting", "killed"),
    [
        (S.ABORTING, None, 100, 10, 100, False),  # never kill without kill_after
        (S.ABORTING, 5, 100, None, 4, False),
        (S.ABORTING, 5, 100, None, 5, True),
        (S.ABORTING, 5, 100, None, None, False),
        (S.IN_PROGRESS, 5, 14, 10, None, False),  # timeout passed, grace not yet
        (S.IN_PROGRESS, 5, 15, 10, None, True),
        (S.IN_PROGRESS, 5, 1000, None, None, False),  # no timeout, not aborting
        (S.PENDING, 5, None, 10, None, False),
        (S.SUCCESS, 5, 1000, 10, 1000, False),
    ],
)
def test_kill_due(
    status: S,
    kill_after: float | None,
    started: float | None,
    timeout: float | None,
    aborting: float | None,
    killed: bool,
) -> None:
    reason = kill_due(
        status=status,
        now=NOW,
        kill_after=kill_after,
        started_at=_ago(started),
        timeout=timeout,
        aborting_since=_ago(aborting),
    )
    assert (reason is not None) is killed
    if reason:
        assert reason.startswith("killed:")


@pytest.mark.parametrize(
    ("heartbeat", "lease"), [(0, 30), (-1, 30), (10, 15), (float("nan"), 30), (True, 30)]
)
def test_bad_lease_settings(heartbeat: float, lease: float) -> None:
    with pytest.raises(ConfigurationError):
        build_settings(heartbeat_interval=heartbeat, lease=lease)


def test_kill_after_validation() -> None:
    assert validate_kill_after(None) is None
    assert validate_kill_after(3) == 3.0
    for bad in (0, -2, "5", float("inf")):
        with pytest.raises(ConfigurationError):
            validate_kill_after(bad)
