"""The Celery side of the engine: the one registered task, and sending its messages.

A message carries only the task's uuid: the row in the database is the truth (name,
arguments, attempt, options), so a message can be duplicated, delayed or redelivered
without ever carrying stale data.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from typing import Any

from resumable._config import Settings
from resumable._errors import ConfigurationError
from resumable.tasks._workers import DEFAULT_QUEUE

log = logging.getLogger("resumable.celery")

RUN_TASK_NAME = "resumable.run_task"
"""The name of the Celery task that runs resumable tasks."""
PRUNE_TASK_NAME = "resumable.prune_tasks"
"""Maintenance task for beat: delete old terminal tasks."""
PURGE_TASK_NAME = "resumable.purge_expired_state"
"""Maintenance task for beat: delete expired checkpoint state."""

_REGISTERED_ATTRIBUTE = "_resumable_registered"


def resolve_app(app: Any) -> Any:
    """The Celery app ``app`` names: the app itself, or a ``module:attribute`` path.

    Raises:
        ConfigurationError: the module or attribute cannot be found, or is no app.
    """
    if not isinstance(app, str):
        return app
    module_name, _, attribute = app.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load the Celery app {app!r}: {exc}") from exc
    if not callable(getattr(found, "send_task", None)):
        raise ConfigurationError(f"{app!r} is not a Celery app: {found!r}")
    return found


def register(app: Any) -> Any:
    """Register ``resumable.run_task`` on ``app`` (once per app) and return the task.

    The task acknowledges its message only once it returns (``acks_late``): a worker
    that dies mid-task leaves the message to be delivered again, and the claim in the
    database decides whether that delivery runs anything.
    """
    app = resolve_app(app)
    if getattr(app, _REGISTERED_ATTRIBUTE, None) is not None:
        return getattr(app, _REGISTERED_ATTRIBUTE)
    from resumable.execution.celery import _keeper
    from resumable.execution.celery._runner import run_task

    registered = app.task(name=RUN_TASK_NAME, shared=False, **RUN_TASK_OPTIONS)(run_task)
    app.task(name=PRUNE_TASK_NAME, ignore_result=True, shared=False)(prune_tasks)
    app.task(name=PURGE_TASK_NAME, ignore_result=True, shared=False)(purge_expired_state)
    setattr(app, _REGISTERED_ATTRIBUTE, registered)
    _keeper.connect_signals()
    return registered


RUN_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    # A pool process lost mid-task (OOM, kill_after) must not requeue the message
    # forever: the lease and the keepers decide what happens to the attempt.
    "reject_on_worker_lost": False,
    "ignore_result": True,
    "max_retries": None,
}


def share_tasks() -> None:
    """Register the tasks on every Celery app of this process (Celery's shared tasks).

    For configuration from the environment alone (``RESUMABLE_EXECUTOR=celery``,
    ``RESUMABLE_CELERY_APP=module:app``): the worker's app module never calls
    ``configure()``, so ``import resumable`` does this instead.
    """
    from celery import shared_task

    from resumable.execution.celery import _keeper
    from resumable.execution.celery._runner import run_task

    shared_task(name=RUN_TASK_NAME, **RUN_TASK_OPTIONS)(run_task)
    shared_task(name=PRUNE_TASK_NAME, ignore_result=True)(prune_tasks)
    shared_task(name=PURGE_TASK_NAME, ignore_result=True)(purge_expired_state)
    _keeper.connect_signals()


def prune_tasks(retention_period_days: float = 90, max_rows_per_run: int = 10_000) -> int:
    """Beat's prune: terminal tasks older than the retention, as the system."""
    from resumable.tasks._api import prune_tasks as prune

    deleted = prune(retention_period_days, max_rows_per_run)
    log.info("pruned tasks=%d retention_period_days=%s", deleted, retention_period_days)
    return deleted


def purge_expired_state() -> int:
    """Beat's purge: checkpoint state past its retention."""
    from resumable.tasks import _services

    purged = _services.current().store.purge_expired()
    log.info("purged expired_state_keys=%d", purged)
    return purged


def register_configured(settings: Settings) -> None:
    """``configure()`` hook: register the tasks on the app given as ``celery_app``.

    Done at configure time, not when the executor is first used: a Celery worker never
    schedules anything, yet must know ``resumable.run_task`` before it consumes.
    A ``module:attribute`` path is resolved when the executor is built instead (the
    module usually is the one calling ``configure()``, still half imported).
    """
    if settings.executor == "celery" and not isinstance(settings.celery_app, str):
        register(settings.celery_app)


def send(
    app: Any,
    task_uuid: str,
    *,
    message_id: str | None = None,
    countdown: float = 0.0,
    queue: str | None = None,
) -> str:
    """Send one ``resumable.run_task`` message for ``task_uuid``; return its id.

    ``queue`` None (or ``default``, the name resumable gives the default queue) sends
    it to the app's default queue.
    """
    message_id = message_id or f"{task_uuid}.{uuid.uuid4().hex[:8]}"
    args = (task_uuid,)
    options: dict[str, Any] = {
        "task_id": message_id,
        # The headers monitoring tools show, exactly as Celery would write them: its
        # saferepr of one short string costs a tenth of a publish.
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
    }
    if countdown > 0:
        options["countdown"] = countdown
    if queue is not None and queue != DEFAULT_QUEUE:
        options["queue"] = queue
    with app.producer_or_acquire() as producer:
        if _declared_on(producer, app, options.get("queue")):
            options["declare"] = []
        app.send_task(RUN_TASK_NAME, args=args, producer=producer, **options)
    return message_id


def _declared_on(producer: Any, app: Any, queue: str | None) -> bool:
    """Whether the queue this message goes to is already declared on the producer's
    connection, by kombu's own record of it.

    Celery declares the destination queue on every publish; kombu then finds it in
    that record and sends nothing, but only after copying and binding the queue, a
    fifth of a publish. Looked up here first, an already declared queue is not passed
    again; a new connection has an empty record, so the first publish on it declares
    as before. Only when routing is plain (no ``task_routes``: the queue is the one
    named, or the default one) and kombu would cache the declaration at all.
    """
    if app.amqp.router.routes:
        return False
    target = app.amqp.queues.get(queue or app.conf.task_default_queue)
    if target is None or not target.can_cache_declaration:
        return False
    declared = getattr(producer.connection, "declared_entities", None)
    return declared is not None and hash(target) in declared
