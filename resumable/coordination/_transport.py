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

    @property
    def pg_channel(self) -> str | None:
        """The LISTEN/NOTIFY channel when signals between processes are NOTIFYs on the
        task database itself (else None): a statement that changes a task may then send
        its signal with ``pg_notify`` in the same round trip, and call
        :meth:`notify_local`."""

    def notify(self, task_uuid: str) -> None:
        """Tell every waiter on ``task_uuid`` to look again now."""

    def notify_local(self, task_uuid: str) -> None:
        """Wake this process's waiters on ``task_uuid`` only: the signal to other
        processes already left (a ``pg_notify`` sent with the change, see
        :attr:`pg_channel`)."""

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
