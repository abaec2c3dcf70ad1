"""Helpers for testing code that uses resumable, without any server.

Example::

    from resumable.testing import memory_store, task_framework

    def test_export_resumes():
        with task_framework():            # tasks in a throwaway SQLite file, run inline
            t = export(10)
            assert t.status == "success"

    def test_job_reconnects():
        store = memory_store()
        resumable.run_job(MyJob(), store=store.scope("job", "run-1"))

Both are real backends (the in-memory store is thread-safe and enforces every rule the
others do), so a test that passes here behaves the same on SQLite, PostgreSQL or Redis.

``check_job(make_job)`` is the conformance kit for job classes (your own, or a
provider's): it runs the standard crash scenarios in real subprocesses and fails with a
report of what each process did::

    def test_my_job_survives_crashes():
        check_job(make_my_job, make_failing_job=make_my_failing_job)
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from resumable import _config
from resumable._errors import JobConformanceError
from resumable.store import Store, open_store
from resumable.store._retention import DEFAULT_RETENTION, _NeverExpire
from resumable.store._values import DEFAULT_MAX_VALUE_BYTES
from resumable.testing._kit import (
    SCENARIO_NAMES,
    ConformanceReport,
    ScenarioResult,
    check_job,
)

__all__ = [
    "SCENARIO_NAMES",
    "ConformanceReport",
    "JobConformanceError",
    "ScenarioResult",
    "check_job",
    "memory_store",
    "task_framework",
]


def memory_store(
    *,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    default_retention: timedelta | _NeverExpire | None = DEFAULT_RETENTION,
) -> Store:
    """A fresh, private in-memory checkpoint store (nothing shared, nothing kept)."""
    return open_store(
        f"memory://testing-{uuid.uuid4().hex}",
        max_value_bytes=max_value_bytes,
        default_retention=default_retention,
    )


@contextmanager
def task_framework(
    *,
    database_url: str | None = None,
    executor: str = "inline",
    abort_poll_interval: float = 0.05,
    progress_throttle: float = 0.0,
) -> Iterator[_config.Settings]:
    """Configure ``@task`` for one test, then restore whatever was configured before.

    Args:
        database_url: Where tasks live; default a SQLite file in a temporary folder,
            deleted afterwards.
        executor: ``"inline"`` (default: ``.schedule()`` runs the task before returning,
            so tests need no waiting), ``"thread"`` or ``"worker"``.
        abort_poll_interval: Short by default, so cancel tests run fast.
        progress_throttle: 0 by default, so every ``update_task`` is written.

    Yields:
        The settings in force inside the block.
    """
    from resumable.tasks import _services

    previous = _config.explicit_settings()
    with tempfile.TemporaryDirectory(prefix="resumable-test-") as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'tasks.db'}"
        settings = _config.configure(
            database_url=url,
            executor=executor,
            abort_poll_interval=abort_poll_interval,
            progress_throttle=progress_throttle,
        )
        try:
            yield settings
        finally:
            _services.shutdown(wait=True)
            _config.restore(previous)
