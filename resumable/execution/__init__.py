"""Where task attempts run: one folder per engine.

- ``inline/``: in the caller.
- ``thread/``: worker threads in this process (the embedded default).
- ``worker/``: ``resumable worker`` processes claiming PENDING rows (the daemon with
  its child processes, claiming, reaper and drain lives in ``worker/_daemon.py``).

The task layer (:mod:`resumable.tasks`) hands an attempt to an engine as a :class:`Job`
through :class:`Executor` (see ``_protocol.py``). The task row is the unit of work: an
executor only decides *where* an attempt runs, never *whether* (the claim
compare-and-set in the database decides that).
"""

from resumable.execution._protocol import Executor, Job
from resumable.execution.inline import InlineExecutor
from resumable.execution.thread import ThreadExecutor
from resumable.execution.worker import WorkerExecutor

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
