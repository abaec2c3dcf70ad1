"""Signals by polling the database, with an in-process shortcut.

Waiters re-read the task's status every ``interval`` seconds, so a change made by any
process is seen within one interval. Changes made in this process also wake local
waiters at once (a condition variable), which costs nothing and spares them the
interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection

from resumable.coordination._transport import StatusReader


class DatabasePolling:
    """A :class:`~resumable.coordination.SignalTransport` that polls the database.

    Args:
        read_status: Reads a task's status value (None when the task does not exist).
        interval: Seconds between two reads by one waiter.
    """

    def __init__(self, read_status: StatusReader, *, interval: float) -> None:
        self._read_status = read_status
        self.interval = interval
        self._condition = threading.Condition()
        self._generation: dict[str, int] = {}
        self._closed = False

    @property
    def pg_channel(self) -> str | None:
        """None: polling sends nothing between processes."""
        return None

    def notify_local(self, task_uuid: str) -> None:
        self.notify(task_uuid)

    def notify(self, task_uuid: str) -> None:
        with self._condition:
            self._generation[task_uuid] = self._generation.get(task_uuid, 0) + 1
            self._condition.notify_all()

    def wait_for(
        self,
        task_uuid: str,
        wanted: Collection[str],
        timeout: float | None,
        *,
        stop: threading.Event | None = None,
    ) -> str | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._condition:
                seen = self._generation.get(task_uuid, 0)
            if stop is not None and stop.is_set():
                return None
            status = self._read_status(task_uuid)
            if status is None:
                return None
            if status in wanted:
                return status
            if self._closed:
                return None
            pause = self.interval
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                pause = min(pause, remaining)
            with self._condition:
                # Only sleep if nothing was notified since we read the status.
                if (
                    self._generation.get(task_uuid, 0) == seen
                    and not self._closed
                    and not (stop is not None and stop.is_set())
                ):
                    self._condition.wait(pause)
            self._forget_if_idle(task_uuid)

    def _forget_if_idle(self, task_uuid: str) -> None:
        # Generations only need to outlive one read-then-wait cycle; dropping them keeps
        # the map from growing with every task this process ever touched.
        with self._condition:
            if len(self._generation) > 10_000:
                self._generation.clear()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
