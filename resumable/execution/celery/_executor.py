"""The scheduling side of the Celery engine: one message per scheduled task."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from resumable._db.engine import translate_errors
from resumable._errors import StoreUnavailableError
from resumable.execution._protocol import Job
from resumable.execution.celery._app import register, resolve_app, send
from resumable.migrations.schema import tasks

log = logging.getLogger("resumable.celery")

T = TypeVar("T")


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
            self._send_first(job.task_uuid, queue, delay)
        except Exception as exc:  # kombu's errors differ per transport
            raise self._unsent(job.task_uuid, exc) from exc

    def send_then_create(
        self, create: Callable[[], T], task_uuid: str, *, queue: str | None, delay: float
    ) -> T:
        """Publish the task's first message, then insert its row (``create()``).

        In this order the publish does not wait for the insert's commit, the slower of
        the two on the way to a worker: the row is usually committed before the message
        has crossed the broker, and a worker that gets there first waits for it (see
        :mod:`resumable.execution.celery._runner`). Should ``create()`` fail, the
        message finds no row and is dropped.

        Raises:
            StoreUnavailableError: the message could not be sent; the task is created
                all the same and ended ABORTED, as when the publish follows the insert.
        """
        try:
            self._send_first(task_uuid, queue, delay)
        except Exception as exc:  # kombu's errors differ per transport
            create()  # the failed schedule stays on record, as a pending cancel would
            raise self._unsent(task_uuid, exc) from exc
        return create()

    def _send_first(self, task_uuid: str, queue: str | None, delay: float) -> None:
        # The first message's id is the task's uuid (written in the row as it is made).
        send(self.app, task_uuid, message_id=task_uuid, countdown=delay, queue=queue)

    def _unsent(self, task_uuid: str, exc: BaseException) -> StoreUnavailableError:
        _fail_unsent(task_uuid, exc)
        broker = self.app.conf.broker_url or "the Celery broker"
        return StoreUnavailableError(
            f"task {task_uuid} could not be sent to {_mask(broker)}: {exc}", None
        )

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
