"""``open_store`` and :class:`Store`: choosing a backend by URL and handing out scopes."""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta
from types import TracebackType
from typing import Any, overload
from urllib.parse import urlsplit

from resumable import _config
from resumable._db.engine import mask_url
from resumable._db.types import utcnow
from resumable._errors import InvalidValueError, StoreNotDurableError, StoreUnavailableError
from resumable.store._backend import Backend, Scope
from resumable.store._retention import (
    DEFAULT_RETENTION,
    Retention,
    _NeverExpire,
    validate_retention,
)
from resumable.store._scoped import ScopedState, TaskStateStore
from resumable.store._values import DEFAULT_MAX_VALUE_BYTES, validate_key

# Not None: scope(ns, None) is a bad scope key (InvalidKeyError), not a missing one.
_UNSET: Any = object()

_SCHEMES = "memory://, sqlite:///…, postgresql://…, postgresql+psycopg://…, redis://…"


def default_store_url() -> str:
    """The URL ``open_store()`` uses when given none.

    ``RESUMABLE_STORE_URL`` if set; else ``RESUMABLE_DATABASE_URL`` (the task database,
    so one variable puts tasks, ``ctx.store`` and standalone checkpoints in one
    database); else the embedded SQLite file.
    """
    return _config.default_store_url()


def _open_backend(url: str, require_durable: bool | None = None) -> Backend:
    masked = mask_url(url)
    scheme = urlsplit(url).scheme.lower()
    base = scheme.split("+", 1)[0]
    if base == "memory":
        from resumable.store._memory import MemoryBackend

        if require_durable:
            raise StoreNotDurableError(
                f"store {masked} lives in this process only: nothing survives its exit "
                "(require_durable=True needs SQLite, PostgreSQL or a persistent Redis)",
                masked,
            )
        name = url.split("://", 1)[1] if "://" in url else ""
        return MemoryBackend(masked, name.strip("/"))
    if base in ("sqlite", "postgresql", "postgres"):
        from resumable.store._sql import SQLBackend

        return SQLBackend(url)
    if base in ("redis", "rediss"):
        from resumable.store._redis import RedisBackend

        return RedisBackend(url, masked, require_durable=require_durable)
    raise StoreUnavailableError(f"unsupported store URL {masked!r}: use one of {_SCHEMES}", masked)


class Store:
    """A checkpoint store: hands out per-run :class:`TaskStateStore` scopes.

    Create with :func:`open_store`. Usable as a context manager (``with`` or
    ``async with``), which closes it.
    """

    def __init__(
        self, backend: Backend, *, max_value_bytes: int, default_retention: Retention
    ) -> None:
        self._backend = backend
        self.max_value_bytes = max_value_bytes
        self.default_retention = default_retention

    @property
    def url(self) -> str:
        """The store's URL, password masked."""
        return self._backend.url

    def __repr__(self) -> str:
        return f"<resumable.Store {self.url}>"

    @overload
    def scope(self, namespace: str, scope_key: str) -> TaskStateStore: ...

    @overload
    def scope(self, namespace: str, *, key: str) -> TaskStateStore: ...  # deprecated

    def scope(
        self, namespace: str, scope_key: Any = _UNSET, *, key: Any = _UNSET
    ) -> TaskStateStore:
        """The key/value state of one run, isolated from every other scope.

        The handle's :attr:`~TaskStateStore.namespace` and
        :attr:`~TaskStateStore.scope_key` are the two arguments.

        Args:
            namespace: What the run belongs to (a DAG, a pipeline, a task name).
            scope_key: Which run (a run id, a date, a dedup key).
            key: Deprecated spelling of ``scope_key`` (a ``DeprecationWarning``; it is
                removed in the next release).

        Raises:
            InvalidKeyError: namespace or scope_key is not a non-empty str of ≤ 512
                characters, or holds a NUL character or a lone surrogate.
        """
        if key is not _UNSET:
            if scope_key is not _UNSET:
                raise TypeError("scope() got both scope_key and its old spelling key")
            warnings.warn(
                "Store.scope(key=...) is deprecated: use scope_key=... (the name of the "
                "handle's .scope_key attribute)",
                DeprecationWarning,
                stacklevel=2,
            )
            scope_key = key
        elif scope_key is _UNSET:
            raise TypeError("scope() missing 1 required argument: 'scope_key'")
        validate_key(namespace, "namespace")
        return ScopedState(
            self._backend,
            Scope(namespace, validate_key(scope_key, "scope key")),
            max_value_bytes=self.max_value_bytes,
            default_retention=self.default_retention,
        )

    def purge_expired(self) -> int:
        """Delete expired keys of every scope now; return how many were removed."""
        return self._backend.purge_expired(utcnow())

    def close(self) -> None:
        """Release the backend's connections."""
        self._backend.close()

    # Async twins run the blocking call in a worker thread, like the scope's: the
    # drivers underneath are synchronous and must not stall the event loop.

    async def apurge_expired(self) -> int:
        """Async :meth:`purge_expired`."""
        return await asyncio.to_thread(self.purge_expired)

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(
    url: str | None = None,
    *,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    default_retention: timedelta | _NeverExpire | None = DEFAULT_RETENTION,
    require_durable: bool | None = None,
) -> Store:
    """Open a checkpoint store by URL.

    Args:
        url: ``memory://``, ``sqlite:///relative.db``, ``sqlite:////abs/path.db``,
            ``postgresql://…`` (``?schema=NAME`` to use a schema), ``redis://host:port/db``
            (``?prefix=P`` for the key prefix, ``?retry_seconds=S`` for how long
            connection errors and timeouts are retried, default 5). None:
            ``RESUMABLE_STORE_URL``, else ``RESUMABLE_DATABASE_URL`` (the task
            database), else the embedded SQLite file in the user data directory.
        max_value_bytes: Largest encoded value accepted (default 1 MiB).
        default_retention: How long keys live when ``set`` gets no ``retention``
            (default 30 days; None or ``NEVER_EXPIRE``: forever).
        require_durable: What to do when the server would lose the data on a restart
            (a Redis with neither AOF nor snapshots, ``memory://``). None (default):
            warn once with :class:`~resumable.StoreNotDurableWarning` (Redis only);
            True: raise :class:`~resumable.StoreNotDurableError` unless Redis logs
            every write (AOF); False: the store is meant to be volatile, do not check.
            Also settable as ``?require_durable=true|false`` on a Redis URL; this
            argument wins.

    Raises:
        StoreUnavailableError: unknown scheme, missing driver, unreachable server.
        StoreNotDurableError: ``require_durable=True`` and the store is not durable.
        InvalidValueError: bad ``max_value_bytes``, ``default_retention`` or ``require_durable``.
    """
    if (
        isinstance(max_value_bytes, bool)
        or not isinstance(max_value_bytes, int)
        or (max_value_bytes <= 0)
    ):
        raise InvalidValueError(f"max_value_bytes must be a positive int, got {max_value_bytes!r}")
    retention = validate_retention(default_retention)
    if url is not None and not isinstance(url, str):
        raise StoreUnavailableError(f"store URL must be a str, got {type(url).__name__}")
    if require_durable is not None and not isinstance(require_durable, bool):
        raise InvalidValueError(
            f"require_durable must be True, False or None, got {require_durable!r}"
        )
    backend = _open_backend(url or default_store_url(), require_durable)
    return Store(backend, max_value_bytes=max_value_bytes, default_retention=retention)
