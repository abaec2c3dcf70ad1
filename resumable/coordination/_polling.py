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
        # Both maps hold only the tasks someone in this process waits on now: a worker
        # hears the signal of every task of its database, and a map of every uuid it
        # ever heard grew by ~170 bytes per task, forever, in the worker and each child.
        self._generation: dict[str, int] = {}
        self._waiters: dict[str, int] = {}
        self._closed = False

    @property
    def pg_channel(self) -> str | None:
        """None: polling sends nothing between processes."""
        return None

    def notify_local(self, task_uuid: str) -> None:
        self.notify(task_uuid)

    def notify(self, task_uuid: str) -> None:
        with self._condition:
            if task_uuid not in self._waiters:
                # Nobody waits: a waiter that comes later registers before it reads
                # the status, so it cannot miss what this signal was about.
                return
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
        with self._condition:
            self._waiters[task_uuid] = self._waiters.get(task_uuid, 0) + 1
        try:
            return self._wait_for(task_uuid, wanted, timeout, stop)
        finally:
            with self._condition:
                left = self._waiters[task_uuid] - 1
                if left:
                    self._waiters[task_uuid] = left
                else:
                    del self._waiters[task_uuid]
                    self._generation.pop(task_uuid, None)

    def _wait_for(
        self,
        task_uuid: str,
        wanted: Collection[str],
        timeout: float | None,
        stop: threading.Event | None,
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

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
