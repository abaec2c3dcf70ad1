"""The live objects behind the settings: repository, store, executor, signals.

Built lazily on first use and rebuilt after every ``configure()``; the previous ones
are shut down without waiting, so running attempts finish on what they started with.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from resumable import _config
from resumable.coordination import DatabasePolling, SignalTransport, StatusReader
from resumable.coordination._channel import PushChannel
from resumable.execution import Executor, create
from resumable.store import Store, open_store
from resumable.tasks._heartbeat import Heartbeats
from resumable.tasks._lease_repository import LeaseRepository
from resumable.tasks._repository import TaskRepository

log = logging.getLogger("resumable.tasks")


@dataclass
class Services:
    """Everything the task framework talks to, for one configuration."""

    settings: _config.Settings
    repository: TaskRepository
    store: Store
    executor: Executor
    signals: SignalTransport
    leases: LeaseRepository
    heartbeats: Heartbeats
    _active: int = 0
    _closing: bool = False
    _released: bool = False
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def hold(self) -> _Hold:
        """Keep these services open while an attempt runs on them (a ``with`` block).

        ``configure()`` may replace the services while attempts still run: they finish
        on what they started with, and the old connections are released only when the
        last of them is done (disposing a pool under a running attempt would leave its
        connection open and orphaned).
        """
        return _Hold(self)

    def _take(self) -> None:
        with self._guard:
            self._active += 1

    def _give(self) -> None:
        with self._guard:
            self._active -= 1
            idle = self._closing and self._active == 0
        if idle:
            self._release()

    def close(self, *, wait: bool = False) -> None:
        """Stop the executor; release everything once no attempt holds the services."""
        self.executor.shutdown(wait=wait)
        with self._guard:
            self._closing = True
            idle = self._active == 0
        if idle:
            self._release()

    def _release(self) -> None:
        with self._guard:
            if self._released:
                return
            self._released = True
        self.heartbeats.close()
        self.signals.close()
        self.leases.close()
        self.repository.close()
        self.store.close()


class _Hold:
    """What :meth:`Services.hold` returns (a class, not a generator: it wraps every
    attempt, and a no-op task is short enough for the difference to show)."""

    __slots__ = ("_services",)

    def __init__(self, services: Services) -> None:
        self._services = services

    def __enter__(self) -> None:
        self._services._take()

    def __exit__(self, *_: object) -> None:
        self._services._give()


_lock = threading.Lock()
_services: Services | None = None
_generation = -1


def _read_status(repository: TaskRepository, task_uuid: str) -> str | None:
    found = repository.status(task_uuid)
    return None if found is None else found[0].value


def build_signals(settings: _config.Settings, read_status: StatusReader) -> SignalTransport:
    """The signal transport the settings call for.

    Redis (``redis_url``) pushes through a Redis stream; a PostgreSQL database without
    Redis pushes through LISTEN/NOTIFY; otherwise waiters poll the database. Push
    transports poll too, at the same interval, so a lost connection slows delivery
    down to polling speed and loses nothing.
    """
    interval = settings.abort_poll_interval
    channel: PushChannel | None = None
    try:
        if settings.redis_url:
            from resumable.coordination._redis_streams import RedisStreamChannel

            channel = RedisStreamChannel(settings.redis_url)
        elif settings.database_url.split(":", 1)[0].startswith("postgres"):
            from resumable.coordination._pg_notify import PostgresNotifyChannel

            channel = PostgresNotifyChannel(settings.database_url)
    except ImportError as exc:  # driver missing (psycopg2-only installs): poll
        log.warning("push signals unavailable, polling the database instead: %s", exc)
    if channel is None:
        return DatabasePolling(read_status, interval=interval)
    from resumable.coordination._push import PushSignals

    return PushSignals(read_status, interval=interval, channel=channel)


def _build(settings: _config.Settings) -> Services:
    repository = TaskRepository(settings.database_url)
    store = open_store(settings.database_url)
    signals = build_signals(settings, lambda task_uuid: _read_status(repository, task_uuid))
    executor = create(
        settings.executor, max_workers=settings.max_workers, celery_app=settings.celery_app
    )
    leases = LeaseRepository(repository.database)
    heartbeats = Heartbeats(leases, settings)
    return Services(settings, repository, store, executor, signals, leases, heartbeats)


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
        previous.close(wait=wait)


def forget_after_fork() -> None:
    """In a freshly forked child: drop the parent's services without closing them.

    Their pooled connections belong to the parent, which still uses them; the child
    builds its own on first use.
    """
    global _services, _generation
    with _lock:
        _services = None
        _generation = -1
