"""Where task attempts run: one folder per engine.

- ``inline/``: in the caller.
- ``thread/``: worker threads in this process (the embedded default).
- ``worker/``: ``resumable worker`` processes claiming PENDING rows (the daemon with
  its child processes, claiming, reaper and drain lives in ``worker/_daemon.py``).
- ``celery/``: plain Celery workers, one ``resumable.run_task`` message per attempt
  (imported only when chosen: celery is an optional dependency).

The task layer (:mod:`resumable.tasks`) hands an attempt to an engine as a :class:`Job`
through :class:`Executor` (see ``_protocol.py``). The task row is the unit of work: an
executor only decides *where* an attempt runs, never *whether* (the claim
compare-and-set in the database decides that).
"""

from typing import Any

from resumable.execution._protocol import Executor, Job
from resumable.execution.inline import InlineExecutor
from resumable.execution.thread import ThreadExecutor
from resumable.execution.worker import WorkerExecutor

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
        from resumable.execution.celery import CeleryExecutor

        return CeleryExecutor(celery_app)
    from resumable._errors import ConfigurationError

    raise ConfigurationError(f"unknown executor {name!r}")
