"""The ``celery`` executor: scheduled tasks run on plain Celery workers.

One Celery task, ``resumable.run_task``, is registered on the app; a message carries a
task's uuid and nothing else. The database stays the truth: the claim (a
compare-and-set) decides which delivery runs an attempt, heartbeats and leases work as
under ``resumable worker``, and a keeper thread in every pool process reaps lost
attempts and enforces ``kill_after``.
"""

from resumable.execution.celery._app import (
    RUN_TASK_NAME,
    register,
    register_configured,
    resolve_app,
    send,
    share_tasks,
)
from resumable.execution.celery._executor import CeleryExecutor
from resumable.execution.celery._keeper import keep_once

__all__ = [
    "RUN_TASK_NAME",
    "CeleryExecutor",
    "keep_once",
    "register",
    "register_configured",
    "resolve_app",
    "send",
    "share_tasks",
]
