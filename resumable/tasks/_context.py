"""``get_context()`` and :class:`TaskContext`: what a running task sees of itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from resumable._errors import NotInTaskError
from resumable.store import TaskStateStore
from resumable.tasks._progress import ProgressReporter, normalize_progress, validate_payload

if TYPE_CHECKING:
    from resumable.tasks._task import Task

Handler = Callable[[], Any]
H = TypeVar("H", bound=Handler)

_current: ContextVar[TaskContext | None] = ContextVar("resumable_task_context", default=None)


def get_context() -> TaskContext:
    """The context of the task running in this thread or coroutine.

    Raises:
        NotInTaskError: called outside a ``@task`` function.
    """
    ctx = _current.get()
    if ctx is None:
        raise NotInTaskError("get_context() must be called inside a running @task function")
    return ctx


class TaskContext:
    """Handle of a running task, from :func:`get_context`.

    Lets the task report progress, register cleanup and abort handlers, and keep
    checkpoints in ``store``. Created by the runtime for each attempt.
    """

    def __init__(
        self,
        *,
        task_uuid: str,
        attempt: int,
        user: str | None,
        reporter: ProgressReporter,
        open_store: Callable[[], TaskStateStore],
        read_task: Callable[[], Task],
        mark_abortable: Callable[[], None],
    ) -> None:
        self.task_uuid = task_uuid
        self.attempt = attempt
        self._user = user
        self._reporter = reporter
        self._open_store = open_store
        self._read_task = read_task
        self._mark_abortable = mark_abortable
        self._lock = threading.Lock()
        self._store: TaskStateStore | None = None
        self.cleanup_handlers: list[Handler] = []
        self.abort_handlers: list[Handler] = []
        self._abort_requested: threading.Event | None = None

    def __repr__(self) -> str:
        return f"<TaskContext {self.task_uuid} attempt={self.attempt}>"

    @property
    def abort_requested(self) -> threading.Event:
        """Set once an abort or timeout is detected (before abort handlers run)."""
        # Made on first use: most attempts never look, and an Event is a condition
        # and a lock to build for each of them.
        event = self._abort_requested
        if event is None:
            with self._lock:
                if self._abort_requested is None:
                    self._abort_requested = threading.Event()
                event = self._abort_requested
        return event

    @property
    def task(self) -> Task:
        """A fresh snapshot of this task's record."""
        return self._read_task()

    @property
    def user(self) -> str | None:
        """The user who created the task (None when the system did)."""
        return self._user

    @property
    def store(self) -> TaskStateStore:
        """This task's checkpoint store: survives retries and, for keyed tasks, re-runs.

        A fenced handle: once a newer attempt of the same task identity starts, writes
        through this one raise ``StaleAttemptError``.
        """
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    @property
    def store_opened(self) -> bool:
        """Whether ``store`` was used in this attempt."""
        return self._store is not None

    def update_task(self, progress: Any = None, payload: dict[str, Any] | None = None) -> None:
        """Report progress and/or replace the payload.

        Writes are throttled (``configure(progress_throttle=)``): the first is written
        at once, later ones within the window are coalesced, and everything pending is
        written when the task ends.

        Args:
            progress: ``(current, total)``, a float in 0..1, or an int count.
            payload: A JSON dict; replaces the previous payload entirely.

        Raises:
            InvalidValueError: bad progress or payload; nothing is recorded.
        """
        value = None if progress is None else normalize_progress(progress)
        payload_json = None if payload is None else validate_payload(payload)
        if value is None and payload_json is None:
            return
        self._reporter.report(value, payload_json)

    def on_cleanup(self, handler: H) -> H:
        """Register ``handler`` to run when the task ends, whatever the outcome.

        Usable as a decorator. Handlers run last-registered first; each one runs even
        if another raised, and any failure makes the task FAILURE.
        """
        _check_callable(handler)
        with self._lock:
            self.cleanup_handlers.append(handler)
        return handler

    def on_abort(self, handler: H) -> H:
        """Register ``handler`` to run when the task is aborted or times out.

        Usable as a decorator. Registering one makes the task abortable while in
        progress. Abort handlers run (last-registered first) before cleanup handlers.
        """
        _check_callable(handler)
        with self._lock:
            first = not self.abort_handlers
            self.abort_handlers.append(handler)
        if first:
            self._mark_abortable()
        return handler


def _check_callable(handler: Any) -> None:
    if not callable(handler):
        raise TypeError(f"a handler must be callable, got {type(handler).__name__}")


def set_current(ctx: TaskContext | None) -> Any:
    """Make ``ctx`` the current context; returns the token for :func:`reset_current`."""
    return _current.set(ctx)


def reset_current(token: Any) -> None:
    """Undo :func:`set_current`."""
    _current.reset(token)
