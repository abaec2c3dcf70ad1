"""Push channels: how one process tells others "task X changed, look again".

A channel carries only task uuids. It never decides anything: the database row is the
truth, and a waiter re-reads it when woken. A channel that loses its connection keeps
trying to reconnect on its own; meanwhile waiters fall back to polling, and when it is
back it wakes every local waiter once, so a signal sent during the outage is never
waited on for longer than one polling interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

OnSignal = Callable[[str], None]
OnReconnect = Callable[[], None]


class PushChannel(Protocol):
    """A broadcast of task uuids between processes."""

    name: str
    """Short name for logs and docs (``redis-streams``, ``postgres-notify``)."""

    def publish(self, task_uuid: str) -> None:
        """Broadcast ``task_uuid``; raise on failure (the caller logs and relies on polling)."""

    def start(self, on_signal: OnSignal, on_reconnect: OnReconnect) -> None:
        """Start listening in a background thread; call ``on_signal`` for each uuid heard."""

    @property
    def connected(self) -> bool:
        """Whether the listener is currently connected."""

    def close(self) -> None:
        """Stop listening and release connections."""


class ListenerThread:
    """The reconnect loop shared by every channel's listener.

    ``listen_once`` connects, calls ``ready`` once subscribed, then blocks delivering
    signals until it raises (connection lost) or ``stopping`` is set. Reconnects back off
    from 50 ms to 2 s, so an outage costs little and recovery is quick.
    """

    def __init__(
        self,
        name: str,
        listen_once: Callable[[threading.Event, Callable[[], None]], None],
        on_reconnect: OnReconnect,
    ) -> None:
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.ever_connected = threading.Event()
        self._name = name
        self._listen_once = listen_once
        self._on_reconnect = on_reconnect
        self._thread = threading.Thread(target=self._run, name=f"resumable-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _ready(self) -> None:
        again = self.ever_connected.is_set()
        self.connected.set()
        self.ever_connected.set()
        if again:
            log.info("signal channel reconnected channel=%s", self._name)
        # Whatever was published before we listened (at start, or while we were away)
        # may be lost (NOTIFY) or already behind us: every waiter re-reads the database
        # now, so a cancel landing while a worker child was still connecting waits for
        # nothing, not for the polling floor.
        self._on_reconnect()

    def _run(self) -> None:
        delay = 0.05
        while not self.stopping.is_set():
            try:
                self._listen_once(self.stopping, self._ready)
                delay = 0.05
            except Exception as exc:  # any failure of the connection: retry
                if self.connected.is_set():
                    log.warning(
                        "signal channel lost; polling until it is back channel=%s error=%s",
                        self._name,
                        exc,
                    )
                self.connected.clear()
                self.stopping.wait(delay)
                delay = min(delay * 2, 2.0)
        self.connected.clear()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)


class ListeningChannel:
    """What every channel with a :class:`ListenerThread` shares: its connection state."""

    _listener: ListenerThread | None = None

    @property
    def connected(self) -> bool:
        """Whether the listener is currently connected."""
        return self._listener is not None and self._listener.connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the listener is subscribed (tests, startup)."""
        return self._listener is not None and self._listener.connected.wait(timeout)
