"""Signals over PostgreSQL LISTEN/NOTIFY (used when the database is PostgreSQL and no
Redis is configured).

NOTIFY is fire-and-forget: a listener that is reconnecting misses what was sent
meanwhile. The channel's reconnect rule (wake every waiter once connected again) turns
that into at most one polling interval of delay, never a lost abort.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from resumable.coordination._channel import (
    ListenerThread,
    ListeningChannel,
    OnReconnect,
    OnSignal,
)

# How often the listener looks up from its socket to notice close(): short, so closing
# a configuration is quick; each wake-up is a cheap local check, no round trip.
_POLL_SECONDS = 0.2


def channel_name(schema: str | None) -> str:
    """The NOTIFY channel for a database (one per schema, so installations stay apart)."""
    suffix = re.sub(r"[^a-z0-9_]", "_", (schema or "public").lower())
    return f"resumable_signals_{suffix}"[:63]


def libpq_conninfo(url: str) -> dict[str, Any]:
    """psycopg connection arguments for a SQLAlchemy PostgreSQL URL."""
    parsed = make_url(url)
    args: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        "connect_timeout": 5,
    }
    for key, value in parsed.query.items():
        if key != "schema":
            args[key] = value
    return {key: value for key, value in args.items() if value is not None}


class PostgresNotifyChannel(ListeningChannel):
    """A :class:`~resumable.coordination._channel.PushChannel` on LISTEN/NOTIFY.

    Needs psycopg 3 (``resumable-sdk[postgres]``).

    Args:
        url: The task database's URL (``?schema=`` picks the channel).
    """

    name = "postgres-notify"

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._conninfo = libpq_conninfo(url)
        self.channel = channel_name(make_url(url).query.get("schema"))  # type: ignore[arg-type]
        self._publisher: Any = None
        self._publish_lock = threading.Lock()
        self._listener: ListenerThread | None = None
        self._on_signal: OnSignal | None = None
        self._closed = False

    @property
    def pg_channel(self) -> str:
        """The NOTIFY channel: a statement on the task database may send the signal
        itself (``SELECT pg_notify(channel, uuid)`` in its own round trip)."""
        return self.channel

    def publish(self, task_uuid: str) -> None:
        with self._publish_lock:
            if self._closed:
                return  # a late notify after close(): nobody here listens any more
            try:
                if self._publisher is None or self._publisher.closed:
                    self._publisher = self._psycopg.connect(autocommit=True, **self._conninfo)
                self._publisher.execute("SELECT pg_notify(%s, %s)", (self.channel, task_uuid))
            except self._psycopg.Error:
                if self._publisher is not None:
                    self._publisher.close()
                self._publisher = None
                raise

    def start(self, on_signal: OnSignal, on_reconnect: OnReconnect) -> None:
        self._on_signal = on_signal
        self._listener = ListenerThread(self.name, self._listen_once, on_reconnect)
        self._listener.start()

    def _listen_once(self, stopping: threading.Event, ready: Callable[[], None]) -> None:
        with self._psycopg.connect(autocommit=True, **self._conninfo) as conn:
            conn.execute(f'LISTEN "{self.channel}"')
            ready()
            while not stopping.is_set():
                for notice in conn.notifies(timeout=_POLL_SECONDS):
                    if self._on_signal is not None and notice.payload:
                        self._on_signal(notice.payload)
                    if stopping.is_set():
                        break

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stopping.set()
            if self.connected:
                # The listener looks up from its socket only every _POLL_SECONDS; an
                # empty notification (ignored by every listener) ends its wait now, so
                # closing costs a round trip, not up to 0.2 s per worker child.
                with contextlib.suppress(self._psycopg.Error):
                    self.publish("")
            self._listener.stop()
        with self._publish_lock:
            self._closed = True
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
