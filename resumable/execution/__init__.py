"""Where task attempts run: ``inline``, ``thread`` (embedded default), ``worker``, ``celery``.

Every executor satisfies :class:`Executor`. The task row is the unit of work: an
executor only decides *where* an attempt runs, never *whether* (the claim
compare-and-set in the database decides that).
"""

from typing import Any

from resumable.execution._inline import InlineExecutor
from resumable.execution._protocol import Executor, Job
from resumable.execution._thread import ThreadExecutor
from resumable.execution._worker import WorkerExecutor

__all__ = ["Executor", "InlineExecutor", "Job", "ThreadExecutor", "WorkerExecutor", "create"]


def create(name: str, *, max_workers: int, celery_app: Any = None) -> Executor:
    """The executor called ``name`` (``inline``, ``thread``, ``worker`` or ``celery``)."""
    if name == "inline":
        return InlineExecutor()
    if name == "thread":
        return ThreadExecutor(max_workers=max_workers)
    if name == "worker":
        return WorkerExecutor()
    if name == "celery":
        # Imported here: celery is an optional dependency.
        from resumable.execution.celery import CeleryExecutor

        return CeleryExecutor(celery_app)
    from resumable._errors import ConfigurationError

    raise ConfigurationError(f"unknown executor {name!r}")
