"""The ``worker`` engine: ``resumable worker`` processes claim PENDING rows and run them.

Only the executor (what ``.schedule()`` talks to) is imported here. The daemon
(:mod:`resumable.execution.worker._daemon`: claiming, child processes, heartbeats of
children, the reaper, drain) builds on the task runtime, which itself imports this
package for its executors; importing the daemon here would make that a cycle.
"""

from resumable.execution.worker._executor import WorkerExecutor

__all__ = ["WorkerExecutor"]
