"""Fixtures for real worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import resumable
from resumable import _config
from resumable.tasks import _services
from tests.workers.harness import WorkerProcess


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Worker processes started by the test; all killed at the end."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.close()


@pytest.fixture
def schedule_to_workers(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Configure this process to schedule onto workers of ``database_url``; yield the URL."""
    monkeypatch.syspath_prepend(str(tmp_path))
    resumable.configure(database_url=database_url, executor="worker", abort_poll_interval=0.2)
    yield database_url
    _services.shutdown(wait=True)
    _config.reset()
