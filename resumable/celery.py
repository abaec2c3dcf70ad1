"""Celery integration: the public face of the ``celery`` executor.

``resumable.configure(executor="celery", celery_app=app)`` registers the Celery tasks
below on ``app``; plain ``celery -A module worker`` processes then run resumable tasks
with every guarantee of the other engines (see docs/celery.md).

Registered tasks:

- ``resumable.run_task(uuid)``: runs one attempt of the task ``uuid``.
- ``resumable.prune_tasks(retention_period_days, max_rows_per_run)`` and
  ``resumable.purge_expired_state()``: maintenance, scheduled by :func:`beat_schedule`.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from resumable._errors import ConfigurationError
from resumable.execution.celery._app import (
    PRUNE_TASK_NAME,
    PURGE_TASK_NAME,
    RUN_TASK_NAME,
    register,
)

__all__ = ["PRUNE_TASK_NAME", "PURGE_TASK_NAME", "RUN_TASK_NAME", "beat_schedule", "register"]


def beat_schedule(
    every: timedelta = timedelta(hours=1),
    *,
    retention_period_days: float = 90,
    max_rows_per_run: int = 10_000,
) -> dict[str, dict[str, Any]]:
    """Celery beat entries that prune old tasks and purge expired checkpoints.

    Merge them into ``app.conf.beat_schedule``; the tasks they name are registered by
    ``resumable.configure(executor="celery", celery_app=app)``.

    Args:
        every: How often both run.
        retention_period_days: Terminal tasks that ended longer ago are deleted.
        max_rows_per_run: At most this many tasks are deleted per run.

    Raises:
        ConfigurationError: a non-positive interval or invalid limits.
    """
    if not isinstance(every, timedelta) or every <= timedelta(0):
        raise ConfigurationError(f"every must be a positive timedelta, got {every!r}")
    if (
        isinstance(retention_period_days, bool)
        or not isinstance(retention_period_days, (int, float))
        or not math.isfinite(retention_period_days)
        or retention_period_days < 0
    ):
        raise ConfigurationError(
            f"retention_period_days must be a number >= 0, got {retention_period_days!r}"
        )
    if (
        isinstance(max_rows_per_run, bool)
        or not isinstance(max_rows_per_run, int)
        or max_rows_per_run < 1
    ):
        raise ConfigurationError(
            f"max_rows_per_run must be a positive int, got {max_rows_per_run!r}"
        )
    return {
        PRUNE_TASK_NAME: {
            "task": PRUNE_TASK_NAME,
            "schedule": every,
            "kwargs": {
                "retention_period_days": retention_period_days,
                "max_rows_per_run": max_rows_per_run,
            },
        },
        PURGE_TASK_NAME: {"task": PURGE_TASK_NAME, "schedule": every},
    }
