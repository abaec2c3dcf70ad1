"""resumable: make long-running jobs survive crashes.

The public API lives here; every other module is an implementation detail.
"""

from importlib.metadata import PackageNotFoundError, version

from resumable._errors import (
    ConfigurationError,
    InvalidKeyError,
    InvalidValueError,
    PermissionDeniedError,
    ResumableError,
    StaleAttemptError,
    StoreUnavailableError,
    TaskNotAbortableError,
    TaskNotFoundError,
    TaskTimeoutError,
    ValueTooLargeError,
)
from resumable.jobs import ResumableJobMixin, run_job
from resumable.store import NEVER_EXPIRE, Store, TaskStateStore, open_store

try:
    __version__ = version("resumable-sdk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "ConfigurationError",
    "InvalidKeyError",
    "InvalidValueError",
    "NEVER_EXPIRE",
    "PermissionDeniedError",
    "ResumableError",
    "ResumableJobMixin",
    "StaleAttemptError",
    "Store",
    "StoreUnavailableError",
    "TaskNotAbortableError",
    "TaskNotFoundError",
    "TaskStateStore",
    "TaskTimeoutError",
    "ValueTooLargeError",
    "__version__",
    "open_store",
    "run_job",
]
