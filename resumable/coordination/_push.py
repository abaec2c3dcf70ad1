"""A signal transport that pushes: a channel for speed, database polling as the floor."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Collection

from resumable.coordination._channel import PushChannel
from resumable.coordination._polling import DatabasePolling
from resumable.coordination._transport import StatusReader

log = logging.getLogger(__name__)


class PushSignals:
    """A :class:`~resumable.coordination.SignalTransport` over a :class:`PushChannel`.

    Waiting is database polling (every ``interval`` seconds, the same as without push);
    the channel only wakes a waiter early when another process publishes its task's
    uuid. Hence the guarantees: with the channel up, a change is seen in milliseconds;
    with it down, within one interval; nothing is ever missed.

    The channel listens from the first wait of this process on (or :meth:`listen`),
    not from construction: a process that only schedules or runs tasks without a
    timeout or abort handler (a Celery pool process running plain tasks) never waits,
    and a listener there would only wake up for every other task's signal. A wait
    that starts the listener loses nothing: once subscribed, the channel wakes every
    waiter to read the database again (its reconnect rule).

    Args:
        read_status: Reads a task's status value (None when it does not exist).
        interval: Polling interval, the delay bound while the channel is down.
        channel: Where signals travel between processes.
    """

    def __init__(self, read_status: StatusReader, *, interval: float, channel: PushChannel):
        self._polling = DatabasePolling(read_status, interval=interval)
        self.channel = channel
        self.interval = interval
        self._waiting: Counter[str] = Counter()
        self._waiting_lock = threading.Lock()
        self._listening = False
        self._closed = False

    def listen(self) -> None:
        """Start the channel's listener now, if it is not running yet (a worker that
        wants to know at start whether push works)."""
        if self._listening:
            return
        with self._waiting_lock:  # under the lock, so close() cannot slip in between
            if self._listening or self._closed:
                return
            self._listening = True
            # Only starts a thread: the subscription happens there.
            self.channel.start(self._polling.notify, self._wake_everyone)

    def _wake_everyone(self) -> None:
        with self._waiting_lock:
            waiting = list(self._waiting)
        for task_uuid in waiting:
            self._polling.notify(task_uuid)

    @property
    def pg_channel(self) -> str | None:
        """The channel's LISTEN/NOTIFY channel name, when it is one (else None)."""
        name: str | None = getattr(self.channel, "pg_channel", None)
        return name

    def notify_local(self, task_uuid: str) -> None:
        self._polling.notify(task_uuid)

    def notify(self, task_uuid: str) -> None:
        self._polling.notify(task_uuid)
        try:
            self.channel.publish(task_uuid)
        except Exception as exc:  # the channel is down: remote waiters poll instead
            log.warning(
                "could not publish signal; remote waiters will poll channel=%s task_uuid=%s "
                "error=%s",
                self.channel.name,
                task_uuid,
                exc,
            )

    def wait_for(
        self,
        task_uuid: str,
        wanted: Collection[str],
        timeout: float | None,
        *,
        stop: threading.Event | None = None,
    ) -> str | None:
        with self._waiting_lock:
            self._waiting[task_uuid] += 1
        # After counting this waiter in: the listener's first subscription wakes it.
        self.listen()
        try:
            return self._polling.wait_for(task_uuid, wanted, timeout, stop=stop)
        finally:
            with self._waiting_lock:
                self._waiting[task_uuid] -= 1
                if self._waiting[task_uuid] <= 0:
                    del self._waiting[task_uuid]

    def close(self) -> None:
        with self._waiting_lock:
            self._closed = True
        self.channel.close()
        self._polling.close()
