"""Heartbeats of running attempts, and self-fencing when the lease is lost.

One thread per process renews the leases of every attempt running in it (a worker's
child runs one; a thread executor may run several). An attempt loses its lease when a
renewal finds its row moved on (a reaper retried or failed it), or when no renewal has
succeeded for a whole lease (the database is unreachable, or this process was paused).
Either way another process may now own the task, so the attempt fences itself: its
``ctx.store`` refuses every write and ``ctx.abort_requested`` is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from resumable._config import Settings
from resumable._errors import StaleAttemptError
from resumable.store import TaskStateStore
from resumable.tasks._lease_repository import LeaseRepository

log = logging.getLogger("resumable.tasks")


class _Flag:
    """A flag set once, read often (``is_set``/``set`` as on an Event, which costs a
    condition and a lock per attempt; nobody waits on this one)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True


class Lease:
    """The lease of one running attempt."""

    def __init__(self, task_uuid: str, attempt: int, renewed_at: float) -> None:
        self.task_uuid = task_uuid
        self.attempt = attempt
        self.renewed_at = renewed_at
        self.lost = _Flag()
        self.reason: str | None = None
        self._on_lost: list[Any] = []

    def on_lost(self, callback: Any) -> None:
        """Call ``callback()`` once when the lease is lost (at once if it already is)."""
        self._on_lost.append(callback)
        if self.lost.is_set():
            callback()

    def lose(self, reason: str) -> None:
        """Mark the lease lost; first reason wins."""
        if self.lost.is_set():
            return
        self.reason = reason
        self.lost.set()
        log.error(
            "task lost its lease; fencing this attempt task_uuid=%s attempt=%d reason=%s",
            self.task_uuid,
            self.attempt,
            reason,
        )
        for callback in self._on_lost:
            try:
                callback()
            except Exception:
                log.exception("lease-lost callback failed task_uuid=%s", self.task_uuid)


class Heartbeats:
    """Renews the leases of this process's running attempts every ``heartbeat_interval``."""

    def __init__(self, leases: LeaseRepository, settings: Settings) -> None:
        self._leases = leases
        self.settings = settings
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def register(self, task_uuid: str, attempt: int) -> Lease:
        """Start renewing the lease of a just-claimed attempt (claiming was its first beat)."""
        lease = Lease(task_uuid, attempt, time.monotonic())
        with self._lock:
            self._held[task_uuid] = lease
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="resumable-heartbeats", daemon=True
                )
                self._thread.start()
        return lease

    def release(self, lease: Lease) -> None:
        """Stop renewing (the attempt made its final move)."""
        with self._lock:
            if self._held.get(lease.task_uuid) is lease:
                del self._held[lease.task_uuid]

    def _holds(self, lease: Lease) -> bool:
        with self._lock:
            return self._held.get(lease.task_uuid) is lease

    def _run(self) -> None:
        while True:
            self._wake.wait(self.settings.heartbeat_interval)
            self._wake.clear()
            with self._lock:
                if self._stopping:
                    return
                held = list(self._held.values())
            if held:
                self.beat(held)

    def beat(self, held: list[Lease]) -> None:
        """Renew ``held`` once now (the thread calls this; tests may too)."""
        now = time.monotonic()
        try:
            renewed = self._leases.heartbeat([(lease.task_uuid, lease.attempt) for lease in held])
        except Exception as exc:  # unreachable database: the lease runs down
            for lease in held:
                if now - lease.renewed_at > self.settings.lease:
                    lease.lose(f"could not heartbeat for a whole lease ({exc})")
            return
        for lease in held:
            if lease.task_uuid in renewed:
                lease.renewed_at = now
            elif not self._holds(lease):
                # Released while the renewal was in flight: the attempt made its final
                # move (which is why the row no longer matched), it lost nothing.
                continue
            elif now - lease.renewed_at > self.settings.lease:
                lease.lose("no heartbeat could be written for a whole lease")
            else:
                lease.lose("the task moved on without this attempt (reaped or retried)")

    def close(self) -> None:
        """Stop the thread and wait for a renewal in flight (services release their
        connections right after this)."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(30)


class LeaseFencedState:
    """A ``ctx.store`` that refuses writes once its attempt's lease is lost.

    The checkpoint store already fences an attempt as soon as a newer one starts; this
    covers the gap before that, when this process merely suspects it is no longer the
    owner (it could not renew its lease): from then on it must not write either.
    """

    def __init__(self, inner: TaskStateStore, lease: Lease) -> None:
        self._inner = inner
        self._lease = lease

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _check(self) -> None:
        if self._lease.lost.is_set():
            attempt = self._inner.attempt or 0
            raise StaleAttemptError(
                self._inner.namespace,
                self._inner.scope_key,
                attempt,
                attempt,
                reason=f"its task lost the lease ({self._lease.reason})",
            )

    @property
    def namespace(self) -> str:
        return self._inner.namespace

    @property
    def scope_key(self) -> str:
        return self._inner.scope_key

    @property
    def attempt(self) -> int | None:
        return self._inner.attempt

    def get(self, key: str, default: Any = None) -> Any:
        return self._inner.get(key, default)

    def keys(self) -> list[str]:
        return self._inner.keys()

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self._check()
        self._inner.set(key, value, retention=retention)

    def update(self, values: Mapping[str, Any], *, retention: Any = None) -> None:
        self._check()
        self._inner.update(values, retention=retention)

    def delete(self, key: str) -> None:
        self._check()
        self._inner.delete(key)

    def clear(self) -> None:
        self._check()
        self._inner.clear()

    def new_attempt(self) -> TaskStateStore:
        return self._inner.new_attempt()

    async def aget(self, key: str, default: Any = None) -> Any:
        return await self._inner.aget(key, default)

    async def aset(self, key: str, value: Any, *, retention: Any = None) -> None:
        self._check()
        await self._inner.aset(key, value, retention=retention)

    async def aupdate(self, values: Mapping[str, Any], *, retention: Any = None) -> None:
        self._check()
        await self._inner.aupdate(values, retention=retention)

    async def adelete(self, key: str) -> None:
        self._check()
        await self._inner.adelete(key)

    async def aclear(self) -> None:
        self._check()
        await self._inner.aclear()

    async def akeys(self) -> list[str]:
        return await self._inner.akeys()

    async def anew_attempt(self) -> TaskStateStore:
        return await self._inner.anew_attempt()
