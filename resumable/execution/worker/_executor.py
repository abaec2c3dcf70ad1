"""The ``worker`` executor: scheduled tasks wait as PENDING rows for worker processes."""

from __future__ import annotations

from resumable.execution._protocol import Job


class WorkerExecutor:
    """Leaves every scheduled task PENDING in the database.

    ``resumable worker`` processes claim PENDING rows with the same compare-and-set a
    thread uses, so the row itself is the queue. Retry delays are kept in the row
    (``not_before``), not here.
    """

    name = "worker"

    def dispatch(self, job: Job, *, delay: float = 0.0) -> None:
        """The row is already PENDING in the database: nothing to do in this process."""

    def discard(self, task_uuid: str) -> None:
        """Nothing queued here outlives the claim, which refuses an aborted task."""

    def shutdown(self, *, wait: bool) -> None:
        """Nothing runs here."""
