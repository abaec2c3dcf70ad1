"""The public :class:`Task` snapshot and its conversion from records."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pendulum

from resumable._time import as_utc, maybe_utc, now
from resumable.tasks import _operations
from resumable.tasks._models import CancelAction, Progress, TaskRecord, TaskScope, TaskStatus
from resumable.tasks._transitions import is_terminal


def progress_of(record: TaskRecord) -> Progress:
    """The record's progress; its ETA is computed when read (see :class:`Progress`)."""
    running = record.status in (TaskStatus.IN_PROGRESS, TaskStatus.ABORTING)
    return Progress(
        current=record.progress_current,
        total=record.progress_total,
        fraction=record.progress_fraction,
        attempt_started_at=record.started_at if running else None,
        attempt_start_fraction=record.progress_start_fraction or 0.0,
        succeeded=record.status is TaskStatus.SUCCESS,
    )


@attrs.define(kw_only=True)
class Task:
    """A snapshot of one task. ``refresh()`` reloads it; ``wait()`` and ``cancel()``
    act on it. All three act as the current user (see ``acting_as``).

    Each has an async twin for code running in an event loop, named as the store's
    ``aget``/``aset`` are: ``arefresh()``, ``acancel()``, and ``await_done()`` for
    ``wait()`` (``"a" + "wait"`` would be the keyword ``await``). They never block the
    loop: database calls run in worker threads, and waiting polls with sleeps.

    Attributes:
        uuid: Unique id.
        name: The ``@task`` name (the function's name unless ``name=`` was given).
        task_key: Deduplication key, or None.
        task_name: Display name (defaults to ``task_key``).
        scope: PRIVATE, SHARED or SYSTEM.
        status: Lifecycle status.
        result: The function's return value once the task succeeded (decoded from the
            JSON stored in the task row, so any process can read it); None before,
            or when the function returned nothing.
        attempt: 1 for the first try, +1 per retry.
        progress: Progress with ``current``, ``total``, ``fraction``, ``eta_seconds``.
        payload: The last payload dict reported, or None.
        error_message: Why the task failed (all failures combined), or None.
        exception_type: Class name of the (first) exception, or None.
        stack_trace: Full traceback(s), or None.
        subscribers: Ids of the users subscribed to the task.
        created_at: When the task was created. Like every timestamp resumable returns,
            an aware UTC pendulum ``DateTime`` (a ``datetime`` subclass).
        started_at: When its current (or last) attempt started.
        ended_at: When it reached a terminal status.
        created_by: The user who created it (None: the system).
        timeout: Seconds allowed once in progress, or None.
        timeout_unenforceable: The timeout passed but the task had no abort handler,
            so it kept running.
        worker_id: The process running (or that last ran) the task: ``host:pid:…`` for
            ``resumable worker``, ``node@host:pid`` for Celery; None before a worker
            claimed it.
        celery_task_id: Under the Celery executor, the id of the Celery message of the
            current attempt (the task's uuid for the first one); None otherwise.
        queue: The queue the task runs on (None: the default queue).
    """

    uuid: str
    name: str
    task_key: str | None
    task_name: str | None
    scope: TaskScope
    status: TaskStatus
    attempt: int
    progress: Progress
    payload: dict[str, Any] | None
    error_message: str | None
    exception_type: str | None
    stack_trace: str | None
    subscribers: list[str]
    created_at: pendulum.DateTime = attrs.field(converter=as_utc)
    started_at: pendulum.DateTime | None = attrs.field(converter=maybe_utc)
    ended_at: pendulum.DateTime | None = attrs.field(converter=maybe_utc)
    created_by: str | None = None
    timeout: float | None = None
    timeout_unenforceable: bool = False
    retries: int = 0
    abortable: bool = attrs.field(default=False, repr=False)
    worker_id: str | None = None
    celery_task_id: str | None = None
    result: Any = None
    queue: str | None = None

    @classmethod
    def from_record(cls, record: TaskRecord) -> Task:
        """Internal: build the public snapshot of a repository record."""
        return cls(
            uuid=record.uuid,
            name=record.name,
            task_key=record.task_key,
            task_name=record.task_name if record.task_name is not None else record.task_key,
            scope=record.scope,
            status=record.status,
            attempt=record.attempt,
            progress=progress_of(record),
            payload=record.payload,
            error_message=record.error_message,
            exception_type=record.exception_type,
            stack_trace=record.stack_trace,
            subscribers=list(record.subscribers),
            created_at=record.created_at,
            started_at=record.started_at,
            ended_at=record.ended_at,
            created_by=record.created_by,
            timeout=record.timeout,
            timeout_unenforceable=record.timeout_unenforceable,
            retries=record.retries,
            abortable=record.abortable,
            worker_id=record.worker_id,
            celery_task_id=record.celery_task_id,
            result=record.result,
            queue=record.queue,
        )

    @property
    def is_terminal(self) -> bool:
        """Whether the task has ended (success, failure, aborted, timed out)."""
        return is_terminal(self.status)

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from the start of its last attempt to its end (or to now)."""
        if self.started_at is None:
            return None
        return ((self.ended_at or now()) - self.started_at).total_seconds()

    def refresh(self) -> Task:
        """Reload every field from the database; returns ``self``.

        Raises:
            TaskNotFoundError: the task is gone or the current user may not see it.
        """
        self._take(Task.from_record(_operations.visible(self.uuid)))
        return self

    def wait(self, timeout: float | None = None) -> Task:
        """Block until the task is terminal, then refresh; returns ``self``.

        Raises:
            TaskTimeoutError: still not terminal after ``timeout`` seconds.
            TaskNotFoundError: the current user may not see the task.
        """
        self._take(Task.from_record(_operations.wait_for(self.uuid, timeout)))
        return self

    def _take(self, fresh: Task) -> None:
        # A snapshot is updated in place, so references users hold see the new state.
        for field in attrs.fields(Task):
            setattr(self, field.name, getattr(fresh, field.name))

    def cancel(self, force: bool = False) -> CancelAction:
        """Abort the task, or unsubscribe the current user from a shared one.

        Returns:
            ``CancelAction.ABORTED`` or ``CancelAction.UNSUBSCRIBED`` (a ``str`` enum:
            equal to ``"aborted"`` / ``"unsubscribed"``).

        Raises:
            TaskNotAbortableError: in progress without an abort handler (and not
                ``@task(abortable=True)``).
            PermissionDeniedError: SYSTEM task or ``force`` without admin rights.
            TaskFinishedError: the task already ended.
            TaskNotFoundError: the current user may not see the task.
        """
        return _operations.cancel(self.uuid, force=force)

    async def arefresh(self) -> Task:
        """The async twin of :meth:`refresh`; returns ``self``.

        Raises:
            TaskNotFoundError: the task is gone or the current user may not see it.
        """
        record = await asyncio.to_thread(_operations.visible, self.uuid)
        self._take(Task.from_record(record))
        return self

    async def await_done(self, timeout: float | None = None) -> Task:
        """The async twin of :meth:`wait`: until the task is terminal, then refresh;
        returns ``self``. (Not ``await_``-anything else: ``await`` is a keyword.)

        Raises:
            TaskTimeoutError: still not terminal after ``timeout`` seconds.
            TaskNotFoundError: the current user may not see the task.
        """
        record = await _operations.await_done(self.uuid, timeout)
        self._take(Task.from_record(record))
        return self

    async def acancel(self, force: bool = False) -> CancelAction:
        """The async twin of :meth:`cancel` (same returns and errors)."""
        return await asyncio.to_thread(_operations.cancel, self.uuid, force=force)
