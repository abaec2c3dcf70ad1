"""The scheduling side of the Celery engine: one message per scheduled task."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from resumable._db.engine import translate_errors
from resumable._errors import StoreUnavailableError
from resumable.execution._protocol import Job
from resumable.execution.celery._app import register, resolve_app, send
from resumable.migrations.schema import tasks

log = logging.getLogger("resumable.celery")


class CeleryExecutor:
    """Sends every scheduled task to Celery as one ``resumable.run_task`` message.

    The message carries the task's uuid only; its Celery task id is the task's uuid
    too (already written in the row), so scheduling costs one insert and one publish.

    Args:
        app: The Celery app, or its ``module:attribute`` path.
    """

    name = "celery"

    def __init__(self, app: Any) -> None:
        self.app = resolve_app(app)
        register(self.app)

    def dispatch(self, job: Job, *, delay: float = 0.0) -> None:
        """Publish the message for ``job``'s task (after ``delay`` seconds), on the
        task's queue when it has one (else the app's default queue)."""
        queue = getattr(job, "queue", None)
        try:
            send(self.app, job.task_uuid, message_id=job.task_uuid, countdown=delay, queue=queue)
        except Exception as exc:  # kombu's errors differ per transport
            _fail_unsent(job.task_uuid, exc)
            broker = self.app.conf.broker_url or "the Celery broker"
            raise StoreUnavailableError(
                f"task {job.task_uuid} could not be sent to {_mask(broker)}: {exc}", None
            ) from exc

    def discard(self, task_uuid: str) -> None:
        """The task was cancelled while PENDING: revoke its queued message, so a worker
        that receives it skips it (the claim would refuse it anyway)."""
        from resumable.tasks import _services

        database = _services.current().repository.database
        query = select(tasks.c.celery_task_id).where(tasks.c.uuid == task_uuid)
        with translate_errors(database.url), database.auto.connect() as conn:
            message_id = conn.execute(query).scalar()
        if message_id is None:
            return
        try:
            self.app.control.revoke(message_id)
        except Exception as exc:  # the broker is down: the claim still refuses it
            log.warning("could not revoke task_uuid=%s message=%s: %s", task_uuid, message_id, exc)

    def shutdown(self, *, wait: bool) -> None:
        """Nothing runs here; the app's connections belong to the app."""


def _fail_unsent(task_uuid: str, exc: BaseException) -> None:
    from resumable.tasks import _services
    from resumable.tasks._models import TaskStatus

    services = _services.current()
    message = f"could not be sent to the Celery broker: {exc}"
    # Never started, so it ends as a pending cancel does: ABORTED, freeing its key.
    if services.repository.move(
        task_uuid,
        TaskStatus.ABORTED,
        {"error_message": message, "exception_type": "BrokerUnavailable"},
        only_from=[TaskStatus.PENDING],
    ):
        services.signals.notify(task_uuid)


def _mask(url: str) -> str:
    from resumable._db.engine import mask_url

    return mask_url(url)
