"""The live objects behind the settings: repository, store, executor, signals.

Built lazily on first use and rebuilt after every ``configure()``; the previous ones
are shut down without waiting, so running attempts finish on what they started with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from resumable import _config
from resumable.coordination import DatabasePolling, SignalTransport
from resumable.execution import Executor, create
from resumable.store import Store, open_store
from resumable.tasks._repository import TaskRepository


@dataclass
class Services:
    """Everything the task framework talks to, for one configuration."""

    settings: _config.Settings
    repository: TaskRepository
    store: Store
    executor: Executor
    signals: SignalTransport

    def close(self) -> None:
        """Stop the executor and signals; close connections."""
        self.executor.shutdown(wait=False)
        self.signals.close()
        # Disposing only closes idle pooled connections: attempts still running on the
        # old configuration reconnect transparently and finish.
        self.repository.close()
        self.store.close()


_lock = threading.Lock()
_services: Services | None = None
_generation = -1


def _read_status(repository: TaskRepository, task_uuid: str) -> str | None:
    found = repository.status(task_uuid)
    return None if found is None else found[0].value


def _build(settings: _config.Settings) -> Services:
    repository = TaskRepository(settings.database_url)
    store = open_store(settings.database_url)
    signals = DatabasePolling(
        lambda task_uuid: _read_status(repository, task_uuid),
        interval=settings.abort_poll_interval,
    )
    executor = create(settings.executor, max_workers=settings.max_workers)
    return Services(settings, repository, store, executor, signals)


def current() -> Services:
    """The services of the configuration in force (built on first use)."""
    global _services, _generation
    settings, generation = _config.current_settings()
    with _lock:
        if _services is None or generation != _generation:
            previous = _services
            _services = _build(settings)
            _generation = generation
            if previous is not None:
                previous.close()
        return _services


def shutdown(*, wait: bool = True) -> None:
    """Stop the current services (tests and interpreter exit)."""
    global _services
    with _lock:
        previous, _services = _services, None
    if previous is not None:
        previous.executor.shutdown(wait=wait)
        previous.signals.close()
        previous.repository.close()
        previous.store.close()
