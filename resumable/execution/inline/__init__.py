"""The ``inline`` engine: a scheduled task runs in the caller before ``.schedule()`` returns."""

from resumable.execution.inline._executor import InlineExecutor

__all__ = ["InlineExecutor"]
