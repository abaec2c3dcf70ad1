"""The one error tree of resumable.

Every error raised on purpose by resumable derives from :class:`ResumableError`, and
also from the builtin a caller would naturally catch::

    ResumableError(Exception)
    ├── InvalidValueError(ValueError)        value is not storable JSON
    │   └── ValueTooLargeError               encoded value over max_value_bytes
    ├── InvalidKeyError(ValueError)          key / namespace / scope key malformed
    ├── StaleAttemptError                    write through a fenced-off (older) attempt
    ├── StoreUnavailableError(ConnectionError)  backend unreachable / URL unusable
    ├── ConfigurationError(ValueError)       bad configure() / decorator options
    ├── TaskNotFoundError(LookupError)       unknown task, or one the user may not see
    ├── PermissionDeniedError(PermissionError)  user may see the task but not do this
    ├── TaskNotAbortableError                in progress without an abort handler
    ├── TaskFinishedError                    cancel of a task that already ended
    ├── TaskTimeoutError(TimeoutError)       Task.wait() ran out of time
    ├── NotInTaskError(RuntimeError)         get_context() outside a running task
    └── JobConformanceError(AssertionError)  resumable.testing.check_job found a problem

Errors carry their context as attributes (``key``, ``url``, ``task_uuid``) and survive
pickling (they cross process boundaries in the worker and Celery executors), which is
why each one stores its constructor arguments in ``args``.
"""

from __future__ import annotations

from typing import Any


class ResumableError(Exception):
    """Base class of every error raised by resumable."""


class InvalidValueError(ResumableError, ValueError):
    """A value cannot be stored: not JSON of the supported types.

    Attributes:
        key: The key the value was meant for, when known.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message, key)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        return self.message


class ValueTooLargeError(InvalidValueError):
    """The encoded value is larger than the store's ``max_value_bytes``.

    Attributes:
        size: Encoded size in bytes.
        limit: The store's limit in bytes.
    """

    def __init__(self, message: str, key: str | None = None, size: int = 0, limit: int = 0):
        ResumableError.__init__(self, message, key, size, limit)
        self.message = message
        self.key = key
        self.size = size
        self.limit = limit


class InvalidKeyError(ResumableError, ValueError):
    """A key, namespace or scope key is not a non-empty string of at most 512 characters.

    Attributes:
        key: The offending key (as given, whatever its type).
    """

    def __init__(self, message: str, key: Any = None) -> None:
        super().__init__(message, key)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        return self.message


class StaleAttemptError(ResumableError):
    """A write came through an attempt handle that a newer attempt has fenced off.

    Attributes:
        namespace: Scope namespace.
        scope_key: Scope key.
        attempt: The stale handle's attempt number.
        current: The newest attempt number seen by the store.
    """

    def __init__(
        self, namespace: str, scope_key: str, attempt: int, current: int, reason: str | None = None
    ) -> None:
        super().__init__(namespace, scope_key, attempt, current, reason)
        self.namespace = namespace
        self.scope_key = scope_key
        self.attempt = attempt
        self.current = current
        self.reason = reason

    def __str__(self) -> str:
        why = self.reason or f"attempt {self.current} has started"
        return (
            f"attempt {self.attempt} of scope ({self.namespace!r}, {self.scope_key!r}) is "
            f"stale: {why}; this handle may no longer write"
        )


class StoreUnavailableError(ResumableError, ConnectionError):
    """The backend behind a store URL cannot be reached or used.

    Attributes:
        url: The store URL with any password masked.
    """

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message, url)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ResumableError, ValueError):
    """Settings or decorator options are invalid."""


class TaskNotFoundError(ResumableError, LookupError):
    """No task with this uuid exists, or the current user may not see it.

    Attributes:
        task_uuid: The uuid that was looked up.
    """

    def __init__(self, task_uuid: str) -> None:
        super().__init__(task_uuid)
        self.task_uuid = task_uuid

    def __str__(self) -> str:
        return f"task {self.task_uuid} not found"


class PermissionDeniedError(ResumableError, PermissionError):
    """The current user may see the task but not perform this action on it.

    Attributes:
        task_uuid: The task concerned.
    """

    def __init__(self, message: str, task_uuid: str | None = None) -> None:
        super().__init__(message, task_uuid)
        self.message = message
        self.task_uuid = task_uuid

    def __str__(self) -> str:
        return self.message


class TaskNotAbortableError(ResumableError):
    """The task is in progress and registered no abort handler, so it cannot be aborted.

    Attributes:
        task_uuid: The task concerned.
    """

    def __init__(self, task_uuid: str) -> None:
        super().__init__(task_uuid)
        self.task_uuid = task_uuid

    def __str__(self) -> str:
        return (
            f"task {self.task_uuid} is in progress and has no abort handler; "
            "register one with @ctx.on_abort to make it abortable"
        )


class TaskTimeoutError(ResumableError, TimeoutError):
    """``Task.wait()`` returned before the task reached a terminal status.

    Attributes:
        task_uuid: The task waited on.
        timeout: Seconds waited.
    """

    def __init__(self, task_uuid: str, timeout: float) -> None:
        super().__init__(task_uuid, timeout)
        self.task_uuid = task_uuid
        self.timeout = timeout

    def __str__(self) -> str:
        return f"task {self.task_uuid} did not finish within {self.timeout} s"


class TaskFinishedError(ResumableError):
    """The task already reached a terminal status, so it cannot be cancelled any more.

    Attributes:
        task_uuid: The task concerned.
        status: Its terminal status (a ``TaskStatus`` value).
    """

    def __init__(self, task_uuid: str, status: str) -> None:
        super().__init__(task_uuid, status)
        self.task_uuid = task_uuid
        self.status = status

    def __str__(self) -> str:
        return f"task {self.task_uuid} already ended with status {self.status}"


class NotInTaskError(ResumableError, RuntimeError):
    """``get_context()`` was called outside a running ``@task`` function."""


class JobConformanceError(ResumableError, AssertionError):
    """``resumable.testing.check_job`` found a scenario the job does not survive.

    An ``AssertionError``, so a test calling ``check_job`` fails with the report as its
    message.

    Attributes:
        report: The ``ConformanceReport`` (None after unpickling in another process).
    """

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.report = report

    def __str__(self) -> str:
        return self.message
