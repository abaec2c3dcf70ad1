"""Tasks with Superset GTF semantics: lifecycle, handlers, cancel, timeouts, dedup,
scopes, progress, plus retries that resume from ``ctx.store``.

See docs/tasks.md and shared SEMANTICS.md for the behaviour.
"""

from resumable.tasks._actor import acting_as, current_actor
from resumable.tasks._api import (
    cancel_task,
    count_tasks,
    get_task,
    list_tasks,
    prune_tasks,
    wait_for_task,
)
from resumable.tasks._context import TaskContext, get_context
from resumable.tasks._decorator import TaskFunction, task
from resumable.tasks._models import CancelAction, Progress, TaskOptions, TaskScope, TaskStatus
from resumable.tasks._registry import registered
from resumable.tasks._task import Task

__all__ = [
    "CancelAction",
    "Progress",
    "Task",
    "TaskContext",
    "TaskFunction",
    "TaskOptions",
    "TaskScope",
    "TaskStatus",
    "acting_as",
    "cancel_task",
    "count_tasks",
    "current_actor",
    "get_context",
    "get_task",
    "list_tasks",
    "prune_tasks",
    "registered",
    "task",
    "wait_for_task",
]
