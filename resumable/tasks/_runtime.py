"""Running one attempt of a task: claim, body, abort detection, handlers, final move.

An attempt is a sequence of compare-and-set moves on the task row; whenever one of
ours loses (a cancel or timeout got there first), we follow the winner's status
instead of ours. Abort handlers run on a watchdog thread as soon as an abort is
detected, so a flag they set reaches the body while it is still running.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import attrs

from resumable._db.types import utcnow
from resumable._errors import InvalidValueError, StaleAttemptError
from resumable.store import TaskStateStore
from resumable.store._values import DEFAULT_MAX_VALUE_BYTES, encode_value
from resumable.tasks._actor import running_as
from resumable.tasks._context import Handler, TaskContext, reset_current, set_current
from resumable.tasks._heartbeat import Lease, LeaseFencedState
from resumable.tasks._identity import ambient_state_scope, state_scope
from resumable.tasks._models import TaskRecord, TaskScope, TaskStatus
from resumable.tasks._permissions import SYSTEM_ACTOR, Actor
from resumable.tasks._progress import ProgressReporter
from resumable.tasks._retry import RetryOn, is_retryable, retry_wait
from resumable.tasks._services import Services
from resumable.tasks._task import Task
from resumable.tasks._transitions import (
    ABORT_REASON_TIMEOUT,
    TERMINAL,
    should_retry,
    status_after_abort,
)

log = logging.getLogger("resumable.tasks")


@attrs.frozen(kw_only=True)
class Definition:
    """A ``@task`` function and its options."""

    fn: Callable[..., Any]
    name: str
    scope: TaskScope
    timeout: float | None
    retries: int
    retry_delay: float
    keep_state: bool
    kill_after: float | None = None
    origin: str | None = None
    """``module.qualname`` of ``fn``: the same function defined again may re-register
    its name, another function may not."""
    queue: str | None = None
    retry_backoff: bool = False
    retry_on: RetryOn | None = None
    abortable: bool = False
    is_async: bool = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: inspect.iscoroutinefunction(self.fn), takes_self=True),
    )
    """Whether the function is ``async def`` (looked up once: every attempt asks)."""


@attrs.frozen
class Failure:
    """One exception raised by the body or a handler."""

    message: str
    exception_type: str
    stack_trace: str

    @classmethod
    def of(cls, exc: BaseException, label: str | None = None) -> Failure:
        text = str(exc) or type(exc).__name__
        message = text if label is None else f"{label} raised {type(exc).__name__}: {text}"
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(message, type(exc).__name__, trace)


RESULT_KEY = "result"


def encode_result(value: Any) -> str | None:
    """The canonical JSON stored for a return value (None for None), under the
    checkpoint store's rules and default size limit.

    Raises:
        InvalidValueError: the value cannot be stored (``ValueTooLargeError`` when too
            large).
    """
    if value is None:
        return None
    return encode_value(value, RESULT_KEY, DEFAULT_MAX_VALUE_BYTES)


def unstorable_result(exc: InvalidValueError) -> Failure:
    """The failure of an attempt whose return value cannot be stored."""
    return Failure(
        f"the task's return value cannot be stored as its result: {exc}",
        type(exc).__name__,
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


def failure_fields(failures: list[Failure]) -> dict[str, Any]:
    """Task columns describing every failure, the first one's type leading."""
    if not failures:
        return {"error_message": None, "exception_type": None, "stack_trace": None}
    return {
        "error_message": "; ".join(f.message for f in failures),
        "exception_type": failures[0].exception_type,
        "stack_trace": "\n".join(f.stack_trace for f in failures),
    }


def _handler_label(kind: str, handler: Handler) -> str:
    return f"{kind} handler {getattr(handler, '__qualname__', repr(handler))}"


def run_handlers(
    kind: str, handlers: list[Handler], context: contextvars.Context, loop: Any = None
) -> list[Failure]:
    """Run ``handlers`` last-registered first; every one runs; return the failures."""
    failures: list[Failure] = []
    for handler in reversed(list(handlers)):
        try:
            result = context.copy().run(handler)
            if inspect.isawaitable(result):
                _await_from_thread(result, loop)
        except Exception as exc:
            log.exception("task handler failed handler=%r", _handler_label(kind, handler))
            failures.append(Failure.of(exc, _handler_label(kind, handler)))
    return failures


def _await_from_thread(awaitable: Any, loop: asyncio.AbstractEventLoop | None) -> None:
    if loop is not None and loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result()
            return
    asyncio.run(_as_coroutine(awaitable))


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


class Watchdog:
    """Watches one running attempt for an abort and enforces its timeout.

    Started lazily: only attempts with a timeout or an abort handler need one.
    """

    def __init__(self, attempt: Attempt, deadline: float | None) -> None:
        self._attempt = attempt
        self._deadline = deadline
        self._deadline_handled = False
        self.lock = threading.Lock()
        self.stopped = False
        self._stop = threading.Event()
        self.abort_detected = False
        self.abort_failures: list[Failure] = []
        self._thread = threading.Thread(
            target=self._run, name=f"resumable-watchdog-{attempt.task_uuid[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        attempt = self._attempt
        wanted = {TaskStatus.ABORTING.value, *(s.value for s in TERMINAL)}
        while True:
            wait: float | None = None
            if self._deadline is not None and not self._deadline_handled:
                wait = max(0.0, self._deadline - time.monotonic())
            status = attempt.services.signals.wait_for(
                attempt.task_uuid, wanted, wait, stop=self._stop
            )
            with self.lock:
                if self.stopped:
                    return
                if status == TaskStatus.ABORTING.value:
                    self.abort_detected = True
                    self.abort_failures = attempt.run_abort_handlers()
                    return
                if status is not None:  # terminal: nothing left to watch
                    return
                if (
                    self._deadline is not None
                    and not self._deadline_handled
                    and time.monotonic() >= self._deadline
                ):
                    self._deadline_handled = True
                    attempt.on_deadline()

    def stop(self) -> None:
        """Stop watching; waits only for abort handlers that are already running."""
        with self.lock:
            self.stopped = True
        self._stop.set()
        self._attempt.services.signals.notify(self._attempt.task_uuid)

    def join(self, timeout: float) -> None:
        """Wait for the thread to exit (it makes no status read once stopped), so no
        watchdog outlives its attempt's database connections."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


_WATCHDOG_START = threading.Lock()
"""Guards starting an attempt's watchdog (rare, and quick: one lock for all attempts
spares every attempt making its own)."""


@dataclass
class Attempt:
    """One attempt of one task, from claim to final move."""

    services: Services
    definition: Definition
    task_uuid: str
    record: TaskRecord | None = None
    ctx: TaskContext | None = None
    context: contextvars.Context | None = None
    loop: asyncio.AbstractEventLoop | None = None
    watchdog: Watchdog | None = None
    reporter: ProgressReporter | None = None
    lease: Lease | None = None
    abortable: bool = False
    final: TaskRecord | None = None
    signalled: bool = False
    """The final move sent the signal to other processes itself (``pg_notify``)."""
    on_final: Callable[[TaskRecord], None] | None = None
    """The row as the final move left it, when that move returned it (subscribers
    left empty): spares the caller reading it back."""

    # -- start ------------------------------------------------------------------------

    def claim(self) -> bool:
        """PENDING -> IN_PROGRESS; False when aborted while pending or claimed elsewhere.

        A worker process claims in batches before handing the attempt to a child: then
        ``record`` is already set and there is nothing left to claim.
        """
        if self.record is None:
            self.record = self.services.repository.claim(self.task_uuid)
        if self.record is None:
            return False
        self.lease = self.services.heartbeats.register(self.task_uuid, self.record.attempt)
        return True

    def prepare(self) -> TaskContext:
        """Build the context, start the timeout clock (the task is IN_PROGRESS now)."""
        record = self.record
        assert record is not None
        repository = self.services.repository
        self.reporter = ProgressReporter(
            self._write_progress,
            interval=self.services.settings.progress_throttle,
        )
        self.ctx = TaskContext(
            task_uuid=self.task_uuid,
            attempt=record.attempt,
            user=record.created_by,
            reporter=self.reporter,
            open_store=self._open_store,
            read_task=lambda: Task.from_record(_must(repository.get(self.task_uuid))),
            mark_abortable=self._mark_abortable,
        )
        if record.timeout is not None:
            self._ensure_watchdog(time.monotonic() + record.timeout)
        if self.definition.abortable:
            # The body watches ctx.abort_requested: the watchdog sets it on a cancel.
            if not record.abortable:  # a retry sent back by the reaper
                self.services.repository.update_active(self.task_uuid, {"abortable": True})
            self.abortable = True
            self._ensure_watchdog(None)
        if self.lease is not None:
            ctx = self.ctx
            # Not ctx.abort_requested.set itself: the Event is made on first use only.
            self.lease.on_lost(lambda: ctx.abort_requested.set())  # noqa: PLW0108
        return self.ctx

    def _write_progress(self, values: dict[str, Any]) -> None:
        self.services.repository.update_active(
            self.task_uuid, {**values, "progress_updated_at": utcnow()}
        )

    def _open_store(self) -> TaskStateStore:
        record = self.record
        assert record is not None
        namespace, key = ambient_state_scope(record.name, record.task_key) or state_scope(
            record.name, record.scope, record.task_key, record.created_by, record.uuid
        )
        fenced = self.services.store.scope(namespace, key).new_attempt()
        # Refuses writes as soon as this attempt suspects it lost its lease, before any
        # newer attempt exists to fence it in the store itself.
        return fenced if self.lease is None else LeaseFencedState(fenced, self.lease)

    def _mark_abortable(self) -> None:
        self.services.repository.update_active(self.task_uuid, {"abortable": True})
        self.abortable = True
        self._ensure_watchdog(None)

    def _ensure_watchdog(self, deadline: float | None) -> None:
        with _WATCHDOG_START:
            if self.watchdog is None:
                self.watchdog = Watchdog(self, deadline)
                self.watchdog.start()

    # -- called by the watchdog -------------------------------------------------------

    def run_abort_handlers(self) -> list[Failure]:
        ctx = self.ctx
        assert ctx is not None and self.context is not None
        ctx.abort_requested.set()
        return run_handlers("abort", ctx.abort_handlers, self.context, self.loop)

    def on_deadline(self) -> None:
        record = self.record
        assert record is not None
        if self.abortable:
            if self.services.repository.request_timeout_abort(self.task_uuid, ABORT_REASON_TIMEOUT):
                self.services.signals.notify(self.task_uuid)
            return
        log.warning(
            "task timeout not enforced task_uuid=%s name=%s timeout=%s: no abort handler, "
            "the task keeps running; register @ctx.on_abort to make timeouts enforceable",
            self.task_uuid,
            record.name,
            record.timeout,
        )
        self.services.repository.update_active(self.task_uuid, {"timeout_unenforceable": True})

    # -- end --------------------------------------------------------------------------

    def finish(self, body_error: BaseException | None, returned: Any = None) -> TaskStatus:
        """Run handlers and make the final move; returns the status written.

        ``returned``: what the body returned (stored as the result on SUCCESS).
        PENDING means the attempt failed with retries left and was sent back.
        """
        ctx = self.ctx
        assert ctx is not None and self.context is not None and self.reporter is not None
        repository = self.services.repository
        aborted = False
        abort_failures: list[Failure] = []
        if self.watchdog is not None:
            self.watchdog.stop()
            # Holding the watchdog's lock waits for abort handlers it may be running.
            with self.watchdog.lock:
                aborted = self.watchdog.abort_detected
                abort_failures = self.watchdog.abort_failures
            self.watchdog.join(timeout=30)
        if not aborted and self.abortable:
            # A cancel may have landed since the watchdog last looked: abort handlers
            # still go first, before cleanup.
            found = repository.status(self.task_uuid)
            if found is not None and found[0] is TaskStatus.ABORTING:
                aborted = True
                abort_failures = self.run_abort_handlers()
        self.reporter.close()
        cleanup_failures = (
            run_handlers("cleanup", ctx.cleanup_handlers, self.context, self.loop)
            if ctx.cleanup_handlers
            else []
        )
        if aborted:
            status = self._finish_aborting(abort_failures + cleanup_failures)
        else:
            failures = ([Failure.of(body_error)] if body_error else []) + cleanup_failures
            retryable = is_retryable(body_error, self.definition.retry_on)
            result: str | None = None
            if not failures:
                try:
                    result = encode_result(returned)
                except InvalidValueError as exc:
                    # Storing it will never work: fail now, whatever the retries left.
                    failures, retryable = [unstorable_result(exc)], False
            status = self._finish_running(failures, retryable=retryable, result=result)
        if status is TaskStatus.SUCCESS and self._state_to_clear():
            self._clear_state()
        if self.final is not None and self.on_final is not None:
            self.on_final(self.final)
        if self.lease is not None:
            self.services.heartbeats.release(self.lease)
        if self.signalled:
            self.services.signals.notify_local(self.task_uuid)
        else:
            self.services.signals.notify(self.task_uuid)
        return status

    def _finish_aborting(self, failures: list[Failure]) -> TaskStatus:
        repository = self.services.repository
        found = repository.status(self.task_uuid)
        if found is None or found[0] is not TaskStatus.ABORTING:
            return found[0] if found else TaskStatus.ABORTED
        target = status_after_abort(found[1], handler_failed=bool(failures))
        values = failure_fields(failures) if failures else {}
        if target is TaskStatus.TIMED_OUT and self.record is not None:
            values = {"error_message": f"timed out after {self.record.timeout:g} s"}
        attempt = None if self.record is None else self.record.attempt
        if repository.move(
            self.task_uuid, target, values, only_from=[TaskStatus.ABORTING], attempt=attempt
        ):
            return target
        latest = repository.status(self.task_uuid)
        return latest[0] if latest else target

    def _finish_running(
        self, failures: list[Failure], *, retryable: bool = True, result: str | None = None
    ) -> TaskStatus:
        repository = self.services.repository
        record = self.record
        assert record is not None
        if not failures:
            # The signal may leave with the move only when nothing is left to do after
            # it: a waiter it wakes must not find this run's ctx.store still there.
            channel = None if self._state_to_clear() else self.services.signals.pg_channel
            if self.on_final is None:
                # Nobody here reads the final record (a Celery or worker process).
                won, self.signalled = repository.succeed_unread(
                    self.task_uuid, record.attempt, result, pg_channel=channel
                )
            else:
                self.final, self.signalled = repository.succeed(
                    self.task_uuid, record.attempt, result, pg_channel=channel
                )
                won = self.final is not None
            target = TaskStatus.SUCCESS
        elif retryable and should_retry(record.attempt, record.retries):
            # The row's delay: TaskOptions(retry_delay=) may have overridden @task's.
            wait = retry_wait(record.attempt, record.retry_delay, self.definition.retry_backoff)
            not_before = utcnow() + timedelta(seconds=wait)
            won = repository.send_back_for_retry(
                self.task_uuid,
                record.attempt,
                not_before,
                failure_fields(failures),
                abortable=self.definition.abortable,
            )
            target = TaskStatus.PENDING
            if won:
                log.info(
                    "task attempt failed, retrying task_uuid=%s attempt=%d retry_delay=%s",
                    self.task_uuid,
                    record.attempt,
                    wait,
                )
        else:
            won = repository.move(
                self.task_uuid,
                TaskStatus.FAILURE,
                failure_fields(failures),
                only_from=[TaskStatus.IN_PROGRESS],
                attempt=record.attempt,
            )
            target = TaskStatus.FAILURE
        if won:
            return target
        # A cancel or timeout moved the task to ABORTING first: it wins. The body has
        # already ended, so only the abort's final move is left. (Or this attempt was
        # reaped and retried meanwhile: then nothing it writes matches the row.)
        return self._finish_aborting([])

    def _state_to_clear(self) -> bool:
        """Whether a SUCCESS of this attempt clears a ``ctx.store``."""
        ctx = self.ctx
        record = self.record
        assert ctx is not None and record is not None
        if self.definition.keep_state:
            return False
        # An unkeyed first attempt that never touched its store has no state.
        return ctx.store_opened or record.task_key is not None or record.attempt != 1

    def _clear_state(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        try:
            ctx.store.clear()
        except StaleAttemptError:
            log.warning(
                "task state not cleared task_uuid=%s: a newer attempt owns it", self.task_uuid
            )

    # -- running the body -------------------------------------------------------------

    def actor(self) -> Actor:
        record = self.record
        assert record is not None
        return SYSTEM_ACTOR if record.created_by is None else Actor(record.created_by)


def _must(record: TaskRecord | None) -> TaskRecord:
    if record is None:
        raise LookupError("task disappeared while running")
    return record


def run_attempt(
    services: Services,
    definition: Definition,
    task_uuid: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    claimed: TaskRecord | None = None,
    on_final: Callable[[TaskRecord], None] | None = None,
) -> TaskStatus | None:
    """Run one attempt in this thread; None when it could not be claimed.

    ``claimed``: the record of an attempt already claimed (IN_PROGRESS) by a worker,
    or created IN_PROGRESS by a direct call. ``on_final``: called with the final
    record when the final move returned it (subscribers left empty).
    """
    with services.hold():
        attempt = Attempt(services, definition, task_uuid, record=claimed)
        if not attempt.claim():
            return None
        if on_final is not None:
            attempt.on_final = on_final
        ctx = attempt.prepare()
        if definition.is_async:
            return asyncio.run(_run_async_body(attempt, ctx, args, kwargs))
        token = set_current(ctx)
        try:
            with running_as(attempt.actor()):
                attempt.context = contextvars.copy_context()
                try:
                    returned = definition.fn(*args, **kwargs)
                except Exception as exc:
                    return attempt.finish(exc)
                except BaseException as exc:
                    # KeyboardInterrupt / SystemExit: record the failure, then let it go on.
                    attempt.finish(exc)
                    raise
                return attempt.finish(None, returned)
        finally:
            reset_current(token)


async def run_attempt_async(
    services: Services,
    definition: Definition,
    task_uuid: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> TaskStatus | None:
    """Run one attempt of an ``async def`` task on the running loop."""
    with services.hold():
        attempt = Attempt(services, definition, task_uuid)
        if not attempt.claim():
            return None
        ctx = attempt.prepare()
        return await _run_async_body(attempt, ctx, args, kwargs)


async def _run_async_body(
    attempt: Attempt, ctx: TaskContext, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> TaskStatus:
    attempt.loop = asyncio.get_running_loop()
    token = set_current(ctx)
    try:
        with running_as(attempt.actor()):
            attempt.context = contextvars.copy_context()
            error: BaseException | None = None
            returned: Any = None
            try:
                coroutine: Coroutine[Any, Any, Any] = attempt.definition.fn(*args, **kwargs)
                returned = await coroutine
            except Exception as exc:
                error = exc
            except BaseException as exc:
                # Cancelled or interrupted: record the failure, then let it go on.
                await asyncio.to_thread(attempt.finish, exc)
                raise
            # Handlers may block on the database: keep the loop free meanwhile.
            return await asyncio.to_thread(attempt.finish, error, returned)
    finally:
        reset_current(token)
