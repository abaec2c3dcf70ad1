"""The per-run key/value handle users write checkpoints through."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from resumable._db.types import utcnow
from resumable.store._backend import Backend, Item, Scope
from resumable.store._retention import Retention, expires_at, validate_retention
from resumable.store._values import decode_value, encode_value, validate_key

_MISSING: Any = object()


@runtime_checkable
class TaskStateStore(Protocol):
    """Key/value checkpoint state of one run (one scope), compatible with Airflow's.

    Obtained from :meth:`resumable.Store.scope`; inside a ``@task``, ``ctx.store``.
    """

    @property
    def namespace(self) -> str:
        """The scope's namespace (for example a DAG or pipeline name)."""

    @property
    def scope_key(self) -> str:
        """The scope's key within the namespace (for example a run id)."""

    @property
    def attempt(self) -> int | None:
        """The fenced attempt number, or None for an unfenced handle."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when missing or expired."""

    def set(self, key: str, value: Any, *, retention: Retention = None) -> None:
        """Store ``value`` (JSON) under ``key``; ``retention`` as in :func:`open_store`."""

    def update(self, values: Mapping[str, Any], *, retention: Retention = None) -> None:
        """Store several keys atomically: all of them or, on any error, none."""

    def keys(self) -> list[str]:
        """The scope's live keys, sorted."""

    def delete(self, key: str) -> None:
        """Remove ``key``; no-op when missing."""

    def clear(self) -> None:
        """Remove every key of this scope, and of no other."""

    def new_attempt(self) -> TaskStateStore:
        """A handle fenced to a fresh attempt number; older attempts can no longer write."""

    async def aget(self, key: str, default: Any = None) -> Any:
        """Async :meth:`get`."""

    async def aset(self, key: str, value: Any, *, retention: Retention = None) -> None:
        """Async :meth:`set`."""

    async def aupdate(self, values: Mapping[str, Any], *, retention: Retention = None) -> None:
        """Async :meth:`update`."""

    async def akeys(self) -> list[str]:
        """Async :meth:`keys`."""

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""

    async def aclear(self) -> None:
        """Async :meth:`clear`."""

    async def anew_attempt(self) -> TaskStateStore:
        """Async :meth:`new_attempt`."""


class ScopedState:
    """The :class:`TaskStateStore` implementation over any backend.

    Validation and encoding happen here, before the backend is called, so a call that
    raises has written nothing.
    """

    __slots__ = ("_attempt", "_backend", "_default_retention", "_max_bytes", "_scope")

    def __init__(
        self,
        backend: Backend,
        scope: Scope,
        *,
        max_value_bytes: int,
        default_retention: Retention,
        attempt: int | None = None,
    ) -> None:
        self._backend = backend
        self._scope = scope
        self._max_bytes = max_value_bytes
        self._default_retention = default_retention
        self._attempt = attempt

    def __repr__(self) -> str:
        fenced = "" if self._attempt is None else f", attempt={self._attempt}"
        return (
            f"<TaskStateStore {self._backend.url} "
            f"scope=({self._scope.namespace!r}, {self._scope.scope_key!r}){fenced}>"
        )

    @property
    def namespace(self) -> str:
        return self._scope.namespace

    @property
    def scope_key(self) -> str:
        return self._scope.scope_key

    @property
    def attempt(self) -> int | None:
        return self._attempt

    def _item(self, key: str, value: Any, retention: Retention) -> Item:
        validate_key(key)
        text = encode_value(value, key, self._max_bytes)
        return Item(key, text, expires_at(retention, self._default_retention, utcnow()))

    def get(self, key: str, default: Any = None) -> Any:
        validate_key(key)
        text = self._backend.get(self._scope, key, utcnow())
        return default if text is None else decode_value(text)

    def set(self, key: str, value: Any, *, retention: Retention = None) -> None:
        validate_retention(retention)
        self._backend.write(self._scope, [self._item(key, value, retention)], self._attempt)

    def update(self, values: Mapping[str, Any], *, retention: Retention = None) -> None:
        validate_retention(retention)
        if not isinstance(values, Mapping):
            raise TypeError(f"update() takes a mapping of key -> value, got {type(values)!r}")
        # Encode everything first: one bad value means nothing is written.
        items = [self._item(key, value, retention) for key, value in values.items()]
        if items:
            self._backend.write(self._scope, items, self._attempt)

    def keys(self) -> list[str]:
        return self._backend.keys(self._scope, utcnow())

    def delete(self, key: str) -> None:
        validate_key(key)
        self._backend.delete(self._scope, key, self._attempt)

    def clear(self) -> None:
        self._backend.clear(self._scope, self._attempt)

    def new_attempt(self) -> ScopedState:
        attempt = self._backend.new_attempt(self._scope)
        return ScopedState(
            self._backend,
            self._scope,
            max_value_bytes=self._max_bytes,
            default_retention=self._default_retention,
            attempt=attempt,
        )

    # Async variants run the blocking call in a worker thread: the drivers underneath
    # are synchronous, and a checkpoint write must not stall the event loop.

    async def aget(self, key: str, default: Any = None) -> Any:
        return await asyncio.to_thread(self.get, key, default)

    async def aset(self, key: str, value: Any, *, retention: Retention = None) -> None:
        await asyncio.to_thread(self.set, key, value, retention=retention)

    async def aupdate(self, values: Mapping[str, Any], *, retention: Retention = None) -> None:
        await asyncio.to_thread(self.update, values, retention=retention)

    async def akeys(self) -> list[str]:
        return await asyncio.to_thread(self.keys)

    async def adelete(self, key: str) -> None:
        await asyncio.to_thread(self.delete, key)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    async def anew_attempt(self) -> ScopedState:
        return await asyncio.to_thread(self.new_attempt)
