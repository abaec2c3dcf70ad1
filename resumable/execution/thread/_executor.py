"""The ``thread`` executor: a small pool of worker threads in this process."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from resumable.execution._protocol import Job

log = logging.getLogger(__name__)


class ThreadExecutor:
    """Runs jobs on ``max_workers`` threads; delayed jobs wait on timers, not threads.

    Args:
        max_workers: Size of the pool.
    """

    name = "thread"

    def __init__(self, *, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="resumable")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False

    def dispatch(self, job: Job, *, delay: float = 0.0) -> None:
        if delay <= 0:
            self._submit(job)
            return
        timer = threading.Timer(delay, self._fire, args=(job,))
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def _fire(self, job: Job) -> None:
        with self._lock:
            self._timers = {
                t for t in self._timers if t.is_alive() and t is not threading.current_thread()
            }
        self._submit(job)

    def _submit(self, job: Job) -> None:
        try:
            self._pool.submit(_run_logged, job)
        except RuntimeError:
            # Shut down by a newer configure(): the row stays PENDING, nothing is lost.
            log.warning("executor shut down, task left pending task_uuid=%s", job.task_uuid)

    def discard(self, task_uuid: str) -> None:
        """Nothing queued here outlives the claim, which refuses an aborted task."""

    def shutdown(self, *, wait: bool) -> None:
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=wait)


def _run_logged(job: Job) -> None:
    try:
        job.run()
    except BaseException:  # a pool thread must report, never die silently
        log.exception("task runner crashed task_uuid=%s", job.task_uuid)
        raise
