"""The ``inline`` executor: everything runs in the caller."""

from __future__ import annotations

import asyncio
import time

from resumable.execution._protocol import Job


class InlineExecutor:
    """Runs a scheduled job in the calling thread before ``.schedule()`` returns.

    Inside a running event loop an ``async def`` task becomes a task of that loop
    instead, so scheduling never blocks the loop.
    """

    name = "inline"

    def __init__(self) -> None:
        # The loop keeps only weak references to its tasks.
        self._running: set[asyncio.Task[None]] = set()

    def dispatch(self, job: Job, *, delay: float = 0.0) -> None:
        loop = _running_loop()
        if loop is not None and job.is_async:

            async def later() -> None:
                if delay:
                    await asyncio.sleep(delay)
                await job.run_async()

            pending = loop.create_task(later())
            self._running.add(pending)
            pending.add_done_callback(self._running.discard)
            return
        if delay:
            time.sleep(delay)
        job.run()

    def discard(self, task_uuid: str) -> None:
        """Nothing queued here outlives the claim, which refuses an aborted task."""

    def shutdown(self, *, wait: bool) -> None:
        """Nothing to stop: jobs ran in their callers."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
