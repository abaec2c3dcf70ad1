"""``HttpJobOperator``: :class:`~resumable_providers.http.jobs.HttpJob` as an Airflow operator.

Importing this module needs Airflow (2.10+ or 3.x). The job holds all the logic; the
operator mixes it into Airflow's ``BaseOperator`` and calls ``execute_resumable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:  # Airflow 3: the task SDK
    from airflow.sdk import BaseOperator
except ImportError:  # Airflow 2
    from airflow.models import BaseOperator

from resumable_providers.http.jobs import HttpJob

__all__ = ["HttpJobOperator"]


class HttpJobOperator(HttpJob, BaseOperator):  # type: ignore[misc]
    """Submit a job to a REST API once; retries reconnect instead of resubmitting.

    Takes every keyword of :class:`~resumable_providers.http.jobs.HttpJob` (the URLs,
    ``json`` and ``headers`` are templated) besides ``BaseOperator``'s.

    Example::

        HttpJobOperator(
            task_id="export",
            submit_url="https://batch.example/api/jobs",
            status_url="https://batch.example/api/jobs/{id}",
            json={"date": "{{ ds }}"},
            retries=3,
        )
    """

    template_fields: Sequence[str] = (
        "submit_url",
        "status_url",
        "result_url",
        "cancel_url",
        "lookup_url",
        "json",
        "headers",
    )

    def __init__(self, **kwargs: Any) -> None:
        # Its own __init__, so that Airflow's operator metaclass wraps it (default_args,
        # recorded arguments); the job's, inherited as is, would not be.
        super().__init__(**kwargs)

    def execute(self, context: Any) -> Any:
        """Run the job crash-safely; the XCom is the job's result."""
        return self.execute_resumable(context)
