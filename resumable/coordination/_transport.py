"""The protocol every signal transport satisfies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Protocol

StatusReader = Callable[[str], "str | None"]
"""Reads a task's current status value from the database (None: no such task)."""


class SignalTransport(Protocol):
    """Wakes waiters when a task's status may have changed.

    ``notify`` is called after a status change has been committed; ``wait_for`` returns
    as soon as the task's status (read from the database, the only source of truth) is
    one of ``wanted``, or when ``timeout`` runs out. A transport may wake waiters
    spuriously; it must never make them miss a committed change for longer than its
    documented delivery delay.
    """

    def notify(self, task_uuid: str) -> None:
        """Tell every waiter on ``task_uuid`` to look again now."""

    def wait_for(
        self,
        task_uuid: str,
        wanted: Collection[str],
        timeout: float | None,
        *,
        stop: threading.Event | None = None,
    ) -> str | None:
        """The task's status once it is in ``wanted``; None on timeout, when the task
        vanished, or once ``stop`` is set (set it, then :meth:`notify`, to end a wait)."""

    def close(self) -> None:
        """Release resources; waiters return."""
