"""``@task``: turning a function into a task that can be called or scheduled."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload

from resumable._db.types import utcnow
from resumable._errors import ConfigurationError, InvalidValueError
from resumable.tasks import _registry, _services
from resumable.tasks._actor import current_actor
from resumable.tasks._identity import dedup_key
from resumable.tasks._models import (
    MAX_NAME_LENGTH,
    TaskOptions,
    TaskRecord,
    TaskScope,
    TaskStatus,
    validate_queue,
    validate_retries,
    validate_seconds,
    validate_text,
    validate_timeout,
)
from resumable.tasks._retry import RetryOn
from resumable.tasks._rows import NewTask
from resumable.tasks._runtime import Definition, run_attempt, run_attempt_async
from resumable.tasks._services import Services
from resumable.tasks._task import Task
from resumable.tasks._transitions import TERMINAL

P = ParamSpec("P")
R = TypeVar("R")

RESERVED_PARAMETERS = ("ctx", "options")
# Executors that run tasks in other processes: arguments travel as JSON in the row.
REMOTE_EXECUTORS = ("worker", "celery")


def import_name(module: str | None) -> str | None:
    """The name other processes import ``module`` by.

    ``__main__`` (a script run as ``python billing.py`` or ``python -m billing``) is
    mapped, as Celery maps it, to the name the same file has when imported: the main
    module's ``__spec__.name`` under ``-m``, else the script's file name when that is
    a valid module name. Otherwise it stays ``__main__``.
    """
    if module != "__main__":
        return module
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(spec_name, str) and spec_name and spec_name != "__main__":
        return spec_name
    path = getattr(main, "__file__", None)
    if isinstance(path, str):
        stem = Path(path).stem
        if stem.isidentifier() and stem != "__main__":
            return stem
    return module


def origin_of(fn: Any) -> str | None:
    """Where ``fn`` is defined, as ``module.qualname`` (module as other processes import
    it); None for callables without a qualified name (instances, partials)."""
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str) or not qualname:
        return None
    module = import_name(getattr(fn, "__module__", None))
    return qualname if not module else f"{module}.{qualname}"


def _validate_function(fn: Any) -> None:
    if not callable(fn):
        raise ConfigurationError(f"@task needs a function, got {fn!r}")
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"@task cannot inspect {fn!r}: {exc}") from exc
    clashing = [name for name in RESERVED_PARAMETERS if name in parameters]
    if clashing:
        raise ConfigurationError(
            f"@task function {getattr(fn, '__qualname__', fn)!r} takes {clashing[0]!r}: "
            "the context comes from get_context() and options= is reserved for TaskOptions; "
            "rename the parameter"
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ConfigurationError("@task functions cannot be generators")


def _definition(
    fn: Callable[..., Any],
    *,
    name: str | None,
    scope: Any,
    timeout: Any,
    retries: Any,
    retry_delay: Any,
    keep_state: Any,
    kill_after: Any = None,
    retry_backoff: Any = False,
    retry_on: Any = None,
    queue: Any = None,
    abortable: Any = False,
) -> Definition:
    _validate_function(fn)
    origin = origin_of(fn)
    task_name = validate_text(name, "@task name", MAX_NAME_LENGTH) or origin
    if not task_name:
        raise ConfigurationError(f"@task cannot name {fn!r}: pass name=")
    if len(task_name) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"@task default name {task_name[:60]!r}... is longer than {MAX_NAME_LENGTH} "
            "characters: pass a shorter name="
        )
    try:
        task_scope = TaskScope(scope)
    except ValueError:
        raise ConfigurationError(
            f"scope must be TaskScope.PRIVATE, SHARED or SYSTEM, got {scope!r}"
        ) from None
    if retries is None or retry_delay is None:
        raise ConfigurationError("retries and retry_delay must not be None")
    checked_retries = validate_retries(retries)
    checked_delay = validate_seconds(retry_delay, "retry_delay")
    assert checked_retries is not None and checked_delay is not None
    for value, what in (
        (keep_state, "keep_state"),
        (retry_backoff, "retry_backoff"),
        (abortable, "abortable"),
    ):
        if not isinstance(value, bool):
            raise ConfigurationError(f"{what} must be a bool, got {value!r}")
    return Definition(
        fn=fn,
        name=task_name,
        origin=origin,
        scope=task_scope,
        timeout=validate_timeout(timeout, "@task timeout"),
        retries=checked_retries,
        retry_delay=checked_delay,
        keep_state=keep_state,
        kill_after=validate_timeout(kill_after, "@task kill_after"),
        queue=validate_queue(queue, "@task queue"),
        retry_backoff=retry_backoff,
        retry_on=_retry_on(retry_on),
        abortable=abortable,
    )


def _retry_on(value: Any) -> RetryOn | None:
    """``retry_on`` as a tuple of exception classes, or None (retry any exception)."""
    if value is None:
        return None
    types = (value,) if isinstance(value, type) else value
    if (
        not isinstance(types, tuple)
        or not types
        or not all(isinstance(t, type) and issubclass(t, BaseException) for t in types)
    ):
        raise ConfigurationError(
            f"retry_on must be an exception class or a non-empty tuple of them, got {value!r}"
        )
    return types


@dataclass
class ScheduledJob:
    """An attempt handed to an executor; re-dispatches itself for retries."""

    services: Services
    definition: Definition
    task_uuid: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queue: str | None = None
    """The queue the task was scheduled on (Celery routes its message there)."""

    @property
    def is_async(self) -> bool:
        return self.definition.is_async

    def run(self) -> None:
        status = run_attempt(self.services, self.definition, self.task_uuid, self.args, self.kwargs)
        delay = _next_delay(self.services, self.task_uuid, status)
        if delay is not None:
            self.services.executor.dispatch(self, delay=delay)

    async def run_async(self) -> None:
        while True:
            status = await run_attempt_async(
                self.services, self.definition, self.task_uuid, self.args, self.kwargs
            )
            delay = await asyncio.to_thread(_next_delay, self.services, self.task_uuid, status)
            if delay is None:
                return
            await asyncio.sleep(delay)


def _due_in(not_before: datetime | None, now: datetime) -> float:
    return 0.0 if not_before is None else max(0.0, (not_before - now).total_seconds())


def _next_delay(services: Services, task_uuid: str, status: TaskStatus | None) -> float | None:
    """Seconds until the next attempt is due, or None when there is none to run here."""
    if status is not None and status is not TaskStatus.PENDING:
        return None
    record = services.repository.get(task_uuid)
    if record is None or record.status is not TaskStatus.PENDING:
        return None
    # Sent back for a retry, or a claim that came a moment before ``not_before``.
    return _due_in(record.not_before, utcnow()) + 0.001


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_uuid() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` gives it, in a
    third of the time (every call and schedule makes one)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_NO_OPTIONS = TaskOptions()
"""The options of a call without ``options=`` (frozen, so one instance serves all)."""
_NO_ARGUMENTS = json.dumps({"args": [], "kwargs": {}})


def _encode_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], required: bool) -> str | None:
    if not args and not kwargs:
        return _NO_ARGUMENTS
    try:
        return json.dumps({"args": list(args), "kwargs": kwargs}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        if required:
            raise InvalidValueError(
                f"tasks run by other processes (worker, celery) need JSON arguments: {exc}"
            ) from exc
        return None  # thread/inline executors hand the objects over in memory


class TaskFunction(Generic[P, R]):
    """A ``@task``-decorated function.

    Calling it runs the task inline and returns the terminal :class:`Task`;
    :meth:`schedule` hands it to the configured executor and returns at once. Both
    take ``options=TaskOptions(...)`` besides the function's own arguments.
    """

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        functools.update_wrapper(self, definition.fn)

    @property
    def name(self) -> str:
        """The task's registered name."""
        return self.definition.name

    def __repr__(self) -> str:
        return f"<task {self.definition.name!r} scope={self.definition.scope.value}>"

    def _new_task(
        self,
        services: Services,
        options: TaskOptions | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        json_required: bool,
    ) -> NewTask:
        """The row a call or schedule inserts (options checked, identity worked out)."""
        if options is None:
            options = _NO_OPTIONS
        if not isinstance(options, TaskOptions):
            raise ConfigurationError(f"options must be a TaskOptions, got {type(options).__name__}")
        definition = self.definition
        actor = current_actor()
        key = dedup_key(definition.name, definition.scope, options.task_key, actor.user_id)
        task_uuid = new_uuid()
        countdown = options.countdown or 0.0
        return NewTask(
            uuid=task_uuid,
            name=definition.name,
            task_key=options.task_key,
            task_name=options.task_name,
            scope=definition.scope,
            active_dedup_key=key,
            retries=_either(options.retries, definition.retries),
            retry_delay=_either(options.retry_delay, definition.retry_delay),
            timeout=_either(options.timeout, definition.timeout),
            created_by=actor.user_id,
            arguments=_encode_arguments(args, kwargs, json_required),
            kill_after=_either(options.kill_after, definition.kill_after),
            executor=services.executor.name,
            # The first Celery message of a task carries the task's own uuid as its id.
            celery_task_id=task_uuid if services.executor.name == "celery" else None,
            queue=_either(options.queue, definition.queue),
            not_before=utcnow() + timedelta(seconds=countdown) if countdown > 0 else None,
            abortable=definition.abortable,
        )

    def __call__(self, *args: Any, options: TaskOptions | None = None, **kwargs: Any) -> Task:
        """Run the task inline (with its retries) and return it once terminal.

        If an active task with the same dedup identity exists, join it as a subscriber
        and block until it ends instead. With ``TaskOptions(countdown=)``, the task is
        created PENDING and this call waits until it is due (a cancel meanwhile ends it
        ABORTED and returns it), then runs it.
        """
        services = _services.current()
        new = self._new_task(services, options, args, kwargs, json_required=False)
        # Created IN_PROGRESS: this caller claims the first attempt in the same statement
        # (PENDING with a countdown: it waits until due).
        record, created = services.repository.create(new, started=new.not_before is None)
        final: list[TaskRecord] = []
        finished = created and self._run_inline(services, record, args, kwargs, final.append)
        if not finished:
            services.signals.wait_for(record.uuid, {s.value for s in TERMINAL}, None)
        elif final and record.task_key is None and final[0].attempt == record.attempt:
            # Without a key nobody else can have subscribed: the row the final move
            # returned is the whole truth, no need to read it back.
            done = Task.from_record(final[0])
            done.subscribers = list(record.subscribers)
            return done
        latest = services.repository.get(record.uuid)
        return Task.from_record(latest if latest is not None else record)

    def _run_inline(
        self,
        services: Services,
        created: TaskRecord,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_final: Callable[[TaskRecord], None],
    ) -> bool:
        """Run attempts here until none is left; True when the last one ended the task.

        The first attempt was claimed by creating the task IN_PROGRESS; retries are
        claimed like any PENDING task.
        """
        task_uuid = created.uuid
        # PENDING when created with a countdown: claimed like a retry, once due.
        claimed: TaskRecord | None = created if created.status is TaskStatus.IN_PROGRESS else None
        while True:
            status = _run_blocking(
                services, self.definition, task_uuid, args, kwargs, claimed, on_final
            )
            claimed = None
            if status is not None and status in TERMINAL:
                return True
            delay = _next_delay(services, task_uuid, status)
            if delay is None:
                return False
            # Wakes early if the task is cancelled while waiting for its retry.
            services.signals.wait_for(task_uuid, {s.value for s in TERMINAL}, delay)

    def schedule(self, *args: Any, options: TaskOptions | None = None, **kwargs: Any) -> Task:
        """Create the task (or join the active one with the same identity) and hand it
        to the configured executor; returns the PENDING (or joined) task at once."""
        services = _services.current()
        executor = services.executor
        new = self._new_task(
            services, options, args, kwargs, json_required=executor.name in REMOTE_EXECUTORS
        )
        publishes_first = getattr(executor, "send_then_create", None)
        if publishes_first is not None and new.active_dedup_key is None:
            # Nobody can join a task without a key: it is sent before it is inserted.
            record, _ = publishes_first(
                lambda: services.repository.create(new),
                new.uuid,
                queue=new.queue,
                delay=_due_in(new.not_before, utcnow()),
            )
            return Task.from_record(record)
        record, created = services.repository.create(new)
        task = Task.from_record(record)
        if created:
            due_in = _due_in(record.not_before, utcnow())
            executor.dispatch(
                ScheduledJob(
                    services, self.definition, task.uuid, args, dict(kwargs), record.queue
                ),
                delay=due_in,
            )
            if executor.name == "inline":
                # It may have run to its end already: report what happened.
                latest = services.repository.get(task.uuid)
                if latest is not None:
                    return Task.from_record(latest)
        return task


T = TypeVar("T")


def _either(chosen: T | None, default: T) -> T:
    """A TaskOptions field when set, else the decorator's value."""
    return default if chosen is None else chosen


def _run_blocking(
    services: Services,
    definition: Definition,
    task_uuid: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    claimed: TaskRecord | None = None,
    on_final: Callable[[TaskRecord], None] | None = None,
) -> TaskStatus | None:
    if definition.is_async and _loop_running():
        # A sync call from inside a running loop: the loop cannot run our coroutine
        # while we block it, so the attempt gets a loop of its own in a helper thread.
        outcome: list[TaskStatus | None] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                outcome.append(
                    run_attempt(
                        services,
                        definition,
                        task_uuid,
                        args,
                        kwargs,
                        claimed=claimed,
                        on_final=on_final,
                    )
                )
            except BaseException as exc:
                errors.append(exc)

        helper = threading.Thread(target=target, name=f"resumable-sync-{task_uuid[:8]}")
        helper.start()
        helper.join()
        if errors:
            raise errors[0]
        return outcome[0]
    return run_attempt(
        services, definition, task_uuid, args, kwargs, claimed=claimed, on_final=on_final
    )


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@overload
def task(fn: Callable[P, R], /) -> TaskFunction[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    scope: TaskScope | str = TaskScope.PRIVATE,
    timeout: float | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    retry_backoff: bool = False,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] | None = None,
    queue: str | None = None,
    abortable: bool = False,
    kill_after: float | None = None,
    keep_state: bool = False,
) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    scope: TaskScope | str = TaskScope.PRIVATE,
    timeout: float | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    retry_backoff: bool = False,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] | None = None,
    queue: str | None = None,
    abortable: bool = False,
    kill_after: float | None = None,
    keep_state: bool = False,
) -> TaskFunction[P, R] | Callable[[Callable[P, R]], TaskFunction[P, R]]:
    """Make a function a task: tracked, abortable, deduplicated, retried, resumable.

    Use bare (``@task``) or with options (``@task(timeout=60, retries=2)``). The
    function's return value becomes :attr:`Task.result` once it succeeds: it must be
    storable as the checkpoint store stores values (JSON, at most 1 MiB), else the
    task ends FAILURE with the reason.

    Args:
        fn: The function (sync or ``async def``). It must not take ``ctx`` or
            ``options`` parameters: the context comes from :func:`get_context`.
        name: Registered name, unique in the process (default: the function's
            module-qualified name, ``billing.export``; a script run as ``__main__``
            uses its import name, see :func:`import_name`). Workers look tasks up by
            this name, so it is what a stored row refers to.
        scope: ``TaskScope.PRIVATE`` (default), ``SHARED`` or ``SYSTEM``.
        timeout: Default seconds allowed once in progress (``TaskOptions.timeout``
            overrides it); None: no timeout.
        retries: Re-runs after a failed attempt (same task, ``attempt`` + 1).
        retry_delay: Seconds between a failed attempt and the next.
        retry_backoff: Double the wait per attempt, with jitter: tenacity's
            ``wait_exponential_jitter`` from ``retry_delay`` (1 s when it is 0),
            capped at 600 s. The wait is stored as the row's ``not_before``, so
            worker processes and Celery apply it too.
        retry_on: Retry only these exceptions (and subclasses); any other exception
            fails the task at once. None (default): retry every exception.
        queue: The queue that runs the task: workers started with ``--queue`` for
            it, or the Celery queue its message is sent to. None: the default queue.
            ``TaskOptions(queue=)`` overrides it.
        abortable: The body watches ``get_context().abort_requested`` itself, so the
            task can be cancelled (and timed out) while in progress without an
            ``on_abort`` handler: it goes ABORTING, and ABORTED once the body returns
            or raises.
        keep_state: Keep ``ctx.store`` after SUCCESS (default: cleared).
        kill_after: Hard stop under the ``worker`` executor: seconds the task may go
            on after an abort or timeout (its abort handlers having run) before the
            worker kills the process running it; the task then ends ABORTED or
            TIMED_OUT with a note that it was killed. None (default): never killed.

    Raises:
        ConfigurationError: invalid options or function, or a name another function
            already registered in this process, at definition time.
    """

    def decorate(function: Callable[P, R]) -> TaskFunction[P, R]:
        definition = _definition(
            function,
            name=name,
            scope=scope,
            timeout=timeout,
            retries=retries,
            retry_delay=retry_delay,
            keep_state=keep_state,
            kill_after=kill_after,
            retry_backoff=retry_backoff,
            retry_on=retry_on,
            queue=queue,
            abortable=abortable,
        )
        _registry.register(definition)
        return TaskFunction(definition)

    if fn is not None:
        return decorate(fn)
    return decorate
