"""The protocols between the task runtime and an executor."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol


class Job(Protocol):
    """One attempt of one task, ready to run."""

    @property
    def task_uuid(self) -> str:
        """The task this attempt belongs to."""

    @property
    def is_async(self) -> bool:
        """Whether the task function is ``async def`` (then :meth:`run_async` is
        preferred where an event loop is already running)."""

    def run(self) -> None:
        """Run the attempt to its end in the calling thread."""

    def run_async(self) -> Coroutine[Any, Any, None]:
        """Run the attempt on the running event loop (async task functions only)."""


class Executor(Protocol):
    """Runs jobs somewhere: in the caller, in threads, in other processes."""

    name: str

    def dispatch(self, job: Job, *, delay: float = 0.0) -> None:
        """Run ``job`` (after ``delay`` seconds); must not wait for it to finish."""

    def discard(self, task_uuid: str) -> None:
        """The task was cancelled while PENDING: forget whatever is queued for it.

        Only a courtesy: the claim refuses an aborted task in any case."""

    def shutdown(self, *, wait: bool) -> None:
        """Stop accepting jobs; with ``wait``, let running ones finish first."""
