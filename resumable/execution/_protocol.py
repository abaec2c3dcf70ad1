"""The protocols between the task runtime and an executor."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


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


class PublishesFirst(Protocol):
    """An executor that sends a task's first message before its row is written.

    For executors in other processes that find the task by its uuid alone (Celery): the
    publish does not wait for the insert's commit, and the receiving side waits a
    moment for a row it does not find yet. Only for tasks that cannot be joined (no
    dedup key): a joined schedule must send nothing.
    """

    def send_then_create(
        self, create: Callable[[], T], task_uuid: str, *, queue: str | None, delay: float
    ) -> T:
        """Send the task's first message, then run ``create()`` (the insert) and return
        what it returned.

        Raises:
            StoreUnavailableError: the message could not be sent (the task is created
                all the same and ended ABORTED, as a pending cancel ends it).
        """
