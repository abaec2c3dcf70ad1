"""Where task attempts run: ``inline``, ``thread`` (embedded default) and ``worker``.

Every executor satisfies :class:`Executor`. The task row is the unit of work: an
executor only decides *where* an attempt runs, never *whether* (the claim
compare-and-set in the database decides that).
"""

from resumable.execution._inline import InlineExecutor
from resumable.execution._protocol import Executor, Job
from resumable.execution._thread import ThreadExecutor
from resumable.execution._worker import WorkerExecutor

__all__ = ["Executor", "InlineExecutor", "Job", "ThreadExecutor", "WorkerExecutor", "create"]


def create(name: str, *, max_workers: int) -> Executor:
    """The executor called ``name`` (``inline``, ``thread`` or ``worker``)."""
    if name == "inline":
        return InlineExecutor()
    if name == "thread":
        return ThreadExecutor(max_workers=max_workers)
    if name == "worker":
        return WorkerExecutor()
    from resumable._errors import ConfigurationError

    raise ConfigurationError(f"unknown executor {name!r}")
