"""Checkpoint store in this process's memory: a real, thread-safe backend.

``memory://`` gives a fresh private store; ``memory://NAME`` gives the store of that name,
shared by every ``open_store`` call in the process (handy for tests that open the
"same" store twice). Nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from resumable._errors import StaleAttemptError
from resumable.store._backend import Item, Scope

_Entry = tuple[str, "datetime | None"]


class _MemoryData:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scopes: dict[Scope, dict[str, _Entry]] = {}
        self.attempts: dict[Scope, int] = {}


_named: dict[str, _MemoryData] = {}
_named_lock = threading.Lock()


def _live(entry: _Entry, now: datetime) -> bool:
    return entry[1] is None or entry[1] > now


class MemoryBackend:
    """A :class:`~resumable.store._backend.Backend` held in a dict under a lock."""

    def __init__(self, url: str, name: str = "") -> None:
        self.url = url
        if name:
            with _named_lock:
                self._data = _named.setdefault(name, _MemoryData())
        else:
            self._data = _MemoryData()

    def _check_fence(self, scope: Scope, fence: int | None) -> None:
        current = self._data.attempts.get(scope, 0)
        if fence is not None and current > fence:
            raise StaleAttemptError(scope.namespace, scope.scope_key, fence, current)

    def get(self, scope: Scope, name: str, now: datetime) -> str | None:
        with self._data.lock:
            entry = self._data.scopes.get(scope, {}).get(name)
        return entry[0] if entry is not None and _live(entry, now) else None

    def keys(self, scope: Scope, now: datetime) -> list[str]:
        with self._data.lock:
            entries = dict(self._data.scopes.get(scope, {}))
        return sorted(name for name, entry in entries.items() if _live(entry, now))

    def write(self, scope: Scope, items: Sequence[Item], fence: int | None) -> None:
        with self._data.lock:
            self._check_fence(scope, fence)
            entries = self._data.scopes.setdefault(scope, {})
            for item in items:
                entries[item.name] = (item.value, item.expires_at)

    def delete(self, scope: Scope, name: str, fence: int | None) -> None:
        with self._data.lock:
            self._check_fence(scope, fence)
            self._data.scopes.get(scope, {}).pop(name, None)

    def clear(self, scope: Scope, fence: int | None) -> None:
        with self._data.lock:
            self._check_fence(scope, fence)
            self._data.scopes.pop(scope, None)

    def new_attempt(self, scope: Scope) -> int:
        with self._data.lock:
            attempt = self._data.attempts.get(scope, 0) + 1
            self._data.attempts[scope] = attempt
            return attempt

    def current_attempt(self, scope: Scope) -> int:
        with self._data.lock:
            return self._data.attempts.get(scope, 0)

    def purge_expired(self, now: datetime) -> int:
        removed = 0
        with self._data.lock:
            for entries in self._data.scopes.values():
                expired = [name for name, entry in entries.items() if not _live(entry, now)]
                for name in expired:
                    del entries[name]
                removed += len(expired)
        return removed

    def close(self) -> None:
        """Nothing to release; the data stays for other handles on a named store."""
