"""The contract every store backend satisfies.

Backends store canonical JSON text; validation, encoding and retention arithmetic
happen once, above them, in :mod:`resumable.store._scoped`. A backend holds only what
differs between storage engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol


class Scope(NamedTuple):
    """The (namespace, scope key) pair that isolates one run's keys."""

    namespace: str
    scope_key: str


class Item(NamedTuple):
    """One key to write: its name, canonical JSON text and expiry (None = never)."""

    name: str
    value: str
    expires_at: datetime | None


class Backend(Protocol):
    """Storage engine behind a :class:`resumable.Store`.

    ``fence`` arguments: None for an unfenced handle; otherwise the handle's attempt
    number, and the write must fail with ``StaleAttemptError`` (changing nothing) when a
    newer attempt exists for the scope. Check and write are one atomic step.
    """

    url: str
    """The URL the backend was opened with, password masked."""

    def get(self, scope: Scope, name: str, now: datetime) -> str | None:
        """The JSON text of a live key, or None when missing or expired."""

    def keys(self, scope: Scope, now: datetime) -> list[str]:
        """Names of the scope's live keys, sorted."""

    def write(self, scope: Scope, items: Sequence[Item], fence: int | None) -> None:
        """Insert or replace every item atomically."""

    def delete(self, scope: Scope, name: str, fence: int | None) -> None:
        """Remove one key; no-op when missing."""

    def clear(self, scope: Scope, fence: int | None) -> None:
        """Remove every key of the scope."""

    def new_attempt(self, scope: Scope) -> int:
        """Atomically increment and return the scope's attempt number (first is 1)."""

    def current_attempt(self, scope: Scope) -> int:
        """The scope's newest attempt number (0 when none was started)."""

    def purge_expired(self, now: datetime) -> int:
        """Delete every expired key of every scope; return how many."""

    def close(self) -> None:
        """Release connections. Further calls may fail."""
