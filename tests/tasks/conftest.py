"""Fixtures for task tests: a configured task framework per test, restored afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

import resumable
from resumable import _config
from resumable.tasks import _services

POLL = 0.05  # a short abort poll interval keeps tests fast; a test covers the default


@pytest.fixture
def configure_tasks(database_url: str) -> Iterator[Callable[..., _config.Settings]]:
    """Call with configure() keywords; the database is this test's own. Restores after."""

    def apply(**options: object) -> _config.Settings:
        options.setdefault("database_url", database_url)
        options.setdefault("abort_poll_interval", POLL)
        return resumable.configure(**options)  # type: ignore[arg-type]

    yield apply
    _services.shutdown(wait=True)
    _config.reset()


@pytest.fixture
def tasks_db(configure_tasks: Callable[..., _config.Settings]) -> _config.Settings:
    """The task framework on this test's database, thread executor, fast polling."""
    return configure_tasks()


@pytest.fixture
def inline_tasks(configure_tasks: Callable[..., _config.Settings]) -> _config.Settings:
    """Same, with the inline executor."""
    return configure_tasks(executor="inline")


class Gate:
    """Two events a test and a task body use to meet at a point, with a deadline."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait_entered(self, timeout: float = 20.0) -> None:
        assert self.entered.wait(timeout), "the task never reached the gate"

    def block(self, timeout: float = 20.0) -> None:
        self.entered.set()
        assert self.release.wait(timeout), "the test never released the gate"


@pytest.fixture
def gate() -> Gate:
    return Gate()
