"""``CeleryJobOperator``: :class:`~resumable_providers.celery.jobs.CeleryJob` in Airflow.

Importing this module needs Airflow (2.10+ or 3.x). The job holds all the logic; the
operator mixes it into Airflow's ``BaseOperator`` and calls ``execute_resumable``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:  # Airflow 3: the task SDK
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2
    from airflow.models import BaseOperator

from resumable_providers.celery.jobs import CeleryJob

__all__ = ["CeleryJobOperator"]


class CeleryJobOperator(CeleryJob, BaseOperator):  # type: ignore[misc]
    """Send a Celery task once; retries follow it instead of sending it again.

    Args:
        task_name: The registered Celery task name.
        args: Positional arguments of the task; templated.
        kwargs: Keyword arguments of the task; templated.
        app: The Celery app.
        queue, poll_interval, terminate: As for ``CeleryJob``.
        **kwargs_: ``BaseOperator`` arguments (``task_id``, ``retries``, …), ``durable``.
    """

    # Templated: the task's arguments (stored as ``task_args``/``task_kwargs``).
    template_fields: Sequence[str] = ("task_args", "task_kwargs")

    def __init__(
        self,
        *,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        app: Any,
        queue: str | None = None,
        poll_interval: float = 1.0,
        terminate: bool = False,
        **kwargs_: Any,
    ) -> None:
        super().__init__(
            task_name,
            args=args,
            kwargs=kwargs,
            app=app,
            queue=queue,
            poll_interval=poll_interval,
            terminate=terminate,
            **kwargs_,
        )

    def execute(self, context: Any) -> Any:
        """Run the task crash-safely; the XCom is the task's return value."""
        return self.execute_resumable(context)
