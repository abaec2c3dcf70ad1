"""Signals over a Redis stream.

Why a stream and not pub/sub: a pub/sub message published while a subscriber is
reconnecting is gone for good, whereas a stream keeps its entries, and a listener that
comes back reads on from the last id it saw. So no signal is lost across a reconnect
(only across an outage longer than the stream's ``MAXLEN`` of recent entries, where the
wake-everyone-on-reconnect rule of :mod:`._channel` still covers it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from resumable.coordination._channel import (
    ListenerThread,
    ListeningChannel,
    OnReconnect,
    OnSignal,
)

STREAM_MAXLEN = 10_000
# XREAD blocks this long, so close() is noticed within it.
_BLOCK_MS = 250


def _split_url(url: str) -> tuple[str, str]:
    """The plain Redis URL and the key prefix (``?prefix=``, default ``resumable:``)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", ["resumable:"])[0]
    # Options of a checkpoint store URL, which may be the same URL: not redis-py's.
    for store_only in ("retry_seconds", "require_durable"):
        query.pop(store_only, None)
    rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
    return urlunsplit(parts._replace(query=rest)), prefix


class RedisStreamChannel(ListeningChannel):
    """A :class:`~resumable.coordination._channel.PushChannel` on one Redis stream.

    Args:
        url: ``redis://host:port/db`` (``?prefix=P`` namespaces the stream key).
    """

    name = "redis-streams"

    def __init__(self, url: str) -> None:
        import redis

        plain, prefix = _split_url(url)
        self.stream = f"{prefix}signals"
        self._redis = redis
        self._plain_url = plain
        self._publisher: Any = redis.Redis.from_url(
            plain, socket_connect_timeout=2, socket_timeout=2, decode_responses=True
        )
        self._listener: ListenerThread | None = None
        self._on_signal: OnSignal | None = None
        self._last_id = "0-0"
        self._closed = False

    def publish(self, task_uuid: str) -> None:
        if self._closed:
            return  # a late notify after close(): nobody here listens any more
        self._publisher.xadd(
            self.stream, {"uuid": task_uuid}, maxlen=STREAM_MAXLEN, approximate=True
        )

    def start(self, on_signal: OnSignal, on_reconnect: OnReconnect) -> None:
        self._on_signal = on_signal
        # Resolve "now" to a concrete id once: reading from "$" again after a reconnect
        # would skip what was added during the outage.
        try:
            newest = self._publisher.xrevrange(self.stream, count=1)
            self._last_id = newest[0][0] if newest else "0-0"
        except self._redis.RedisError:
            self._last_id = "0-0"
        self._listener = ListenerThread(self.name, self._listen_once, on_reconnect)
        self._listener.start()

    def _listen_once(self, stopping: threading.Event, ready: Callable[[], None]) -> None:
        client: Any = self._redis.Redis.from_url(
            self._plain_url,
            socket_connect_timeout=2,
            socket_timeout=_BLOCK_MS / 1000 + 5,
            decode_responses=True,
        )
        try:
            client.ping()
            ready()
            while not stopping.is_set():
                batches = client.xread({self.stream: self._last_id}, count=500, block=_BLOCK_MS)
                for _stream, entries in batches or ():
                    for entry_id, fields in entries:
                        self._last_id = entry_id
                        if self._on_signal is not None and "uuid" in fields:
                            self._on_signal(fields["uuid"])
        finally:
            client.close()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stopping.set()
            if self.connected:
                # XREAD blocks up to _BLOCK_MS; an entry without a uuid (ignored by
                # every listener) ends that wait now, so closing costs a round trip.
                with contextlib.suppress(self._redis.RedisError):
                    self._publisher.xadd(
                        self.stream, {"wake": "1"}, maxlen=STREAM_MAXLEN, approximate=True
                    )
        self._closed = True
        if self._listener is not None:
            self._listener.stop()
        self._publisher.close()
