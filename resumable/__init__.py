"""resumable: make long-running jobs survive crashes.

The public API lives here; every other module is an implementation detail.
"""

import os as _os
from importlib.metadata import PackageNotFoundError, version

from resumable import _config

# The Airflow integration registers itself with the jobs and tasks layers on import
# (they never import upward); importing it does not import Airflow.
from resumable import airflow as _airflow  # noqa: F401
from resumable._config import configure
from resumable._errors import (
    ConfigurationError,
    InvalidKeyError,
    InvalidValueError,
    NotInTaskError,
    PermissionDeniedError,
    ResumableError,
    StaleAttemptError,
    StoreNotDurableError,
    StoreNotDurableWarning,
    StoreUnavailableError,
    TaskFinishedError,
    TaskNotAbortableError,
    TaskNotFoundError,
    TaskTimeoutError,
    ValueTooLargeError,
)
from resumable.execution.celery import register_configured as _register_celery
from resumable.execution.celery import share_tasks as _share_celery_tasks
from resumable.jobs import ResumableJobMixin, run_job
from resumable.store import NEVER_EXPIRE, Store, TaskStateStore, default_store_url, open_store
from resumable.tasks import (
    CancelAction,
    Progress,
    Task,
    TaskContext,
    TaskFunction,
    TaskOptions,
    TaskScope,
    TaskStatus,
    acting_as,
    cancel_task,
    count_tasks,
    get_context,
    get_task,
    list_tasks,
    prune_tasks,
    task,
    wait_for_task,
)

# configure(executor="celery", celery_app=app) registers resumable.run_task on the app.
# The engine is a layer above the settings, so the root package wires the two together.
_config.on_configure(_register_celery)
if _os.environ.get(_config.EXECUTOR_ENV) == "celery":
    # Configured by the environment alone: a Celery worker's app module may never call
    # configure(), so the tasks go on every app as Celery shared tasks.
    _share_celery_tasks()

try:
    __version__ = version("resumable-sdk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "CancelAction",
    "ConfigurationError",
    "InvalidKeyError",
    "InvalidValueError",
    "NEVER_EXPIRE",
    "NotInTaskError",
    "PermissionDeniedError",
    "Progress",
    "ResumableError",
    "ResumableJobMixin",
    "StaleAttemptError",
    "Store",
    "StoreNotDurableError",
    "StoreNotDurableWarning",
    "StoreUnavailableError",
    "Task",
    "TaskContext",
    "TaskFinishedError",
    "TaskFunction",
    "TaskNotAbortableError",
    "TaskNotFoundError",
    "TaskOptions",
    "TaskScope",
    "TaskStateStore",
    "TaskStatus",
    "TaskTimeoutError",
    "ValueTooLargeError",
    "__version__",
    "acting_as",
    "cancel_task",
    "configure",
    "count_tasks",
    "default_store_url",
    "get_context",
    "get_task",
    "list_tasks",
    "open_store",
    "prune_tasks",
    "run_job",
    "task",
    "wait_for_task",
]
