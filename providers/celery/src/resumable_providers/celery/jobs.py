"""``CeleryJob``: send a Celery task once, follow it across crashes of the sender."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from resumable import ConfigurationError, ResumableError, ResumableJobMixin

__all__ = ["SENT", "CeleryJob", "CeleryJobError"]

log = logging.getLogger("resumable_providers.celery")

# Recorded in the result backend just before the message is published: Celery keeps no
# trace of a task between its sending and a worker taking it (the state reads PENDING,
# as for an id never used), and find_job must tell "sent" from "never sent".
SENT = "SENT"
ACTIVE = frozenset({SENT, "RECEIVED", "STARTED", "RETRY"})


class CeleryJobError(ResumableError, RuntimeError):
    """The Celery task ended without success.

    Attributes:
        task_id: The Celery task id.
        state: ``FAILURE``, ``REVOKED``, or ``PENDING`` (the backend forgot the task).
        error: The task's exception as text, when it failed.
    """

    def __init__(self, task_id: str, state: str, error: str = "") -> None:
        super().__init__(task_id, state, error)
        self.task_id = task_id
        self.state = state
        self.error = error

    def __str__(self) -> str:
        detail = f": {self.error}" if self.error else ""
        return f"Celery task {self.task_id} ended {self.state}{detail}"


class CeleryJob(ResumableJobMixin):
    """Send ``task_name`` to Celery workers as an external job; a retry reconnects.

    The idempotency token is the Celery task id, so ``find_job`` needs no search: the
    task recorded under that id is the one the crashed try sent. The job polls
    ``AsyncResult`` (it never blocks on ``get()``), returns the task's result, and
    ``cancel_job`` revokes the task (``terminate=True`` also kills it mid-run).

    The app needs a result backend; every try must see the same one.

    Args:
        task_name: The registered name of the Celery task (``"billing.export"``).
        args: Positional arguments of the task.
        kwargs: Keyword arguments of the task.
        app: The Celery app (its broker and result backend).
        queue: Queue to send to (default: the app's routing).
        poll_interval: Seconds between state checks.
        terminate: Whether cancel also terminates a running task (``SIGTERM`` to the
            worker process running it), not only revokes it.
        **kwargs_: Passed on (``durable``; an operator's ``task_id`` and friends).

    Example::

        job = CeleryJob("reports.build", args=("2026-11",), app=app)
        resumable.run_job(job, store=store.scope("reports", "2026-11"))
    """

    external_id_key = "celery_task_id"

    def __init__(
        self,
        task_name: str,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        app: Any,
        queue: str | None = None,
        poll_interval: float = 1.0,
        terminate: bool = False,
        **kwargs_: Any,
    ) -> None:
        if not isinstance(task_name, str) or not task_name:
            raise ConfigurationError(f"task_name must be a non-empty string, got {task_name!r}")
        if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
            raise ConfigurationError(f"args must be a list or tuple, got {args!r}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ConfigurationError(f"kwargs must be a mapping, got {kwargs!r}")
        if not callable(getattr(app, "send_task", None)):
            raise ConfigurationError(f"app must be a Celery app, got {app!r}")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not math.isfinite(poll_interval)
            or poll_interval <= 0
        ):
            raise ConfigurationError(f"poll_interval must be seconds > 0, got {poll_interval!r}")
        if not isinstance(terminate, bool):
            raise ConfigurationError(f"terminate must be a bool, got {terminate!r}")
        super().__init__(**kwargs_)
        self.task_name = task_name
        # Not ``self.args``/``self.kwargs``: Airflow 3 refuses to template fields of
        # those names on an operator (they would shadow BaseOperator's own).
        self.task_args = list(args)
        self.task_kwargs = dict(kwargs or {})
        self.app = app
        self.queue = queue
        self.poll_interval = float(poll_interval)
        self.terminate = terminate

    def _result(self, task_id: str) -> Any:
        return self.app.AsyncResult(task_id)

    # -- the mixin's methods ---------------------------------------------------------

    def submit_job(self, context: Any) -> str:
        """Mark the task SENT in the result backend, then send it with the token as id."""
        task_id = self.idempotency_token(context) or str(uuid.uuid4())
        self.app.backend.store_result(task_id, {"task": self.task_name}, SENT)
        options: dict[str, Any] = {"task_id": task_id}
        if self.queue is not None:
            options["queue"] = self.queue
        self.app.send_task(self.task_name, args=self.task_args, kwargs=self.task_kwargs, **options)
        log.info("sent Celery task %s id=%s", self.task_name, task_id)
        return task_id

    def find_job(self, token: str, context: Any) -> str | None:
        """``token`` itself when the result backend knows that task (SENT or later)."""
        return None if self._result(token).state == "PENDING" else token

    def get_job_status(self, external_id: Any, context: Any) -> str:
        """The Celery state: SENT, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED…"""
        return str(self._result(external_id).state)

    def is_job_active(self, status: str) -> bool:
        """SENT, RECEIVED, STARTED and RETRY. PENDING is not: every task this job sends
        is SENT first, so PENDING means the backend no longer knows it."""
        return status in ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        """SUCCESS."""
        return status == "SUCCESS"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        """Check the state every ``poll_interval`` s; raise unless the task succeeded."""
        result = self._result(external_id)
        while (state := str(result.state)) in ACTIVE:
            time.sleep(self.poll_interval)
        if state != "SUCCESS":
            error = "" if state == "PENDING" else repr(result.result)
            raise CeleryJobError(str(external_id), state, error)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        """The task's return value."""
        return self._result(external_id).result

    def cancel_job(self, external_id: Any, context: Any) -> None:
        """Revoke the task (and terminate it if running, with ``terminate=True``)."""
        self.app.control.revoke(external_id, terminate=self.terminate, signal="SIGTERM")
        log.warning("revoked Celery task id=%s terminate=%s", external_id, self.terminate)
