"""The value types of the task framework: statuses, scopes, options, progress, records."""

from __future__ import annotations

import math
from datetime import datetime
from enum import Enum
from typing import Any

import attrs
import pendulum

from resumable._errors import ConfigurationError
from resumable._time import maybe_utc, now
from resumable.tasks._progress import eta_seconds

MAX_KEY_LENGTH = 512
MAX_NAME_LENGTH = 255
MAX_QUEUE_LENGTH = 255


class TaskStatus(str, Enum):
    """Where a task is in its lifecycle (see SEMANTICS.md).

    A ``str`` enum, so ``task.status == "success"`` holds.
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ABORTING = "aborting"
    SUCCESS = "success"
    FAILURE = "failure"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"

    def __str__(self) -> str:
        return self.value


class TaskScope(str, Enum):
    """Who sees a task and how it deduplicates.

    - ``PRIVATE``: visible to its creator; dedup identity is name + key + user.
    - ``SHARED``: visible to its subscribers; dedup identity is name + key (a key is
      required).
    - ``SYSTEM``: visible to admins; dedup identity is name + key.
    """

    PRIVATE = "private"
    SHARED = "shared"
    SYSTEM = "system"

    def __str__(self) -> str:
        return self.value


class CancelAction(str, Enum):
    """What a cancel did: the task was aborted, or only the caller was unsubscribed.

    A ``str`` enum, so ``task.cancel() == "aborted"`` holds.
    """

    ABORTED = "aborted"
    UNSUBSCRIBED = "unsubscribed"

    def __str__(self) -> str:
        return self.value


def validate_timeout(timeout: Any, what: str = "timeout") -> float | None:
    """``timeout`` as float seconds, or None; raises ConfigurationError when not positive."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ConfigurationError(f"{what} must be a number of seconds or None, got {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"{what} must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def validate_text(value: Any, what: str, max_length: int = MAX_KEY_LENGTH) -> str | None:
    """``value`` if it is None or a non-empty str of at most ``max_length`` characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ConfigurationError(
            f"{what} must be a non-empty str of at most {max_length} characters, got {value!r}"
        )
    return value


def validate_seconds(value: Any, what: str) -> float | None:
    """``value`` as float seconds >= 0 (finite), or None; else ConfigurationError."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigurationError(f"{what} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def validate_retries(value: Any, what: str = "retries") -> int | None:
    """``value`` if it is None or an int >= 0; else ConfigurationError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{what} must be an int >= 0, got {value!r}")
    return value


def validate_queue(value: Any, what: str = "queue") -> str | None:
    """``value`` if it is None or a queue name: 1 to 255 characters, no NUL."""
    checked = validate_text(value, what, MAX_QUEUE_LENGTH)
    if checked is not None and "\x00" in checked:
        raise ConfigurationError(f"{what} must not contain a NUL character, got {value!r}")
    return checked


def _timeout(value: Any) -> float | None:
    return validate_timeout(value)


def _kill_after(value: Any) -> float | None:
    return validate_timeout(value, "kill_after")


def _retry_delay(value: Any) -> float | None:
    return validate_seconds(value, "retry_delay")


def _countdown(value: Any) -> float | None:
    return validate_seconds(value, "countdown")


def _retries(value: Any) -> int | None:
    return validate_retries(value)


def _queue(value: Any) -> str | None:
    return validate_queue(value)


def _text_field(what: str) -> Any:
    def check(_instance: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
        validate_text(value, what)

    return attrs.field(default=None, validator=check)


@attrs.frozen(kw_only=True)
class TaskOptions:
    """Per-call options for a task, passed as ``options=`` to a direct call or ``.schedule()``.

    Every field is checked when the options are built: a bad value raises
    :class:`~resumable.ConfigurationError` at the call site, not when the task runs.
    A field left at None takes the ``@task`` decorator's value.

    Attributes:
        task_key: Deduplication key: while a task with the same identity is active,
            further calls join it instead of starting another.
        task_name: Human-readable name shown in listings (defaults to ``task_key``).
        timeout: Seconds the task may run once in progress; overrides ``@task(timeout=)``.
        kill_after: Hard stop (worker executor): seconds a task may go on after an
            abort or a timeout before its process is killed; overrides
            ``@task(kill_after=)``.
        retries: Re-runs after a failed attempt; overrides ``@task(retries=)``.
        retry_delay: Seconds between a failed attempt and the next; overrides
            ``@task(retry_delay=)`` (``retry_backoff`` still doubles it per attempt).
        countdown: Seconds from now before the task may start (stored as the row's
            ``not_before``). A scheduled task stays PENDING until then; a direct
            call waits that long (a cancel meanwhile ends it ABORTED) and then runs.
        queue: The queue that runs the task (workers serving it, or the Celery
            queue); overrides ``@task(queue=)``. None: the default queue.
    """

    task_key: str | None = _text_field("task_key")
    task_name: str | None = _text_field("task_name")
    timeout: float | None = attrs.field(default=None, converter=_timeout)
    kill_after: float | None = attrs.field(default=None, converter=_kill_after)
    retries: int | None = attrs.field(default=None, converter=_retries)
    retry_delay: float | None = attrs.field(default=None, converter=_retry_delay)
    countdown: float | None = attrs.field(default=None, converter=_countdown)
    queue: str | None = attrs.field(default=None, converter=_queue)


@attrs.frozen(kw_only=True)
class Progress:
    """How far a task got. Each public field is None when unknown.

    The ETA is not stored: :attr:`eta_seconds` is computed each time it is read, from
    the time elapsed until now in the current attempt and the share of the work this
    attempt has done, so a task that stalls sees its ETA grow.

    Attributes:
        current: Items done (the int count, or the first element of ``(current, total)``).
        total: Items overall, when known.
        fraction: Share done in 0..1, when known.
        attempt_started_at: When the running attempt started (None when no attempt
            runs: pending or finished).
        attempt_start_fraction: ``fraction`` when that attempt started (a resumed
            attempt does not redo earlier work, so only its own progress sets the pace).
        succeeded: The task ended successfully (its ETA is 0).
    """

    current: float | None = None
    total: float | None = None
    fraction: float | None = None
    attempt_started_at: pendulum.DateTime | None = attrs.field(
        default=None, converter=maybe_utc, repr=False
    )
    attempt_start_fraction: float = attrs.field(default=0.0, repr=False)
    succeeded: bool = attrs.field(default=False, repr=False)

    @property
    def percent(self) -> float | None:
        """``fraction`` as a percentage, or None."""
        return None if self.fraction is None else self.fraction * 100.0

    @property
    def eta_seconds(self) -> float | None:
        """Estimated seconds left, as of now: 0 once done, None while unknown."""
        return self.eta_at(now())

    def eta_at(self, moment: datetime) -> float | None:
        """Estimated seconds left as of ``moment`` (see :attr:`eta_seconds`)."""
        if self.succeeded or (self.fraction is not None and self.fraction >= 1.0):
            return 0.0
        if self.attempt_started_at is None:
            return None
        elapsed = (moment - self.attempt_started_at).total_seconds()
        return eta_seconds(elapsed, self.fraction, self.attempt_start_fraction)


@attrs.frozen(kw_only=True)
class TaskRecord:
    """One row of the task table, as the repository returns it (internal)."""

    uuid: str
    name: str
    task_key: str | None
    task_name: str | None
    scope: TaskScope
    status: TaskStatus
    attempt: int
    retries: int
    timeout: float | None
    abortable: bool
    abort_reason: str | None
    timeout_unenforceable: bool
    created_by: str | None
    progress_current: float | None
    progress_total: float | None
    progress_fraction: float | None
    progress_start_fraction: float | None
    progress_updated_at: datetime | None
    payload: dict[str, Any] | None
    error_message: str | None
    exception_type: str | None
    stack_trace: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    not_before: datetime | None = None
    worker_id: str | None = None
    celery_task_id: str | None = None
    subscribers: list[str] = attrs.Factory(list)
    retry_delay: float = 0.0
    queue: str | None = None
    result: Any = None
    """The decoded return value (None until SUCCESS, or when it returned nothing)."""
