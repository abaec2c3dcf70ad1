"""The ``thread`` engine (embedded default): a pool of threads in the calling process."""

from resumable.execution.thread._executor import ThreadExecutor

__all__ = ["ThreadExecutor"]
