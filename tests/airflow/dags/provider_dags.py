"""DAGs with the providers' operators, for tests/airflow/test_airflow_providers.py.

Imported by resumable_test_dags.py where the providers are installed (the airflow nox
sessions install them); the task processes load this file by its own path.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from file_jobs import FileJobs

try:
    from airflow.sdk import DAG  # Airflow 3
except ImportError:
    from airflow.models import DAG  # Airflow 2

from resumable_providers.celery.operators import CeleryJobOperator
from resumable_providers.http.operators import HttpJobOperator
from resumable_providers.shell.operators import ShellJobOperator

# The command: note that it started, work until the test releases it, finish. It runs
# in a process group of its own, so killing the task process does not stop it.
COMMAND = """
import os, pathlib, time
root = pathlib.Path(os.environ["RESUMABLE_TEST_JOBS"])
with (root / "starts.log").open("a") as log:
    log.write("started\\n")
print("working", flush=True)
deadline = time.monotonic() + 120
while not (root / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.1)
print("done")
"""


class MarkedShellJobOperator(ShellJobOperator):
    """Tells the test when it polls (a FileJobs marker), so that it can be killed then."""

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        FileJobs().mark(
            "polling",
            int(context["ti"].try_number),
            run_id=context["run_id"],
            job_id=external_id["run_dir"],
        )
        super().poll_until_complete(external_id, context)


def _dag(dag_id: str) -> DAG:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return DAG(dag_id, schedule=None, start_date=start, catchup=False, tags=["resumable-tests"])


with _dag("rsm_shell_kill_poll") as shell_kill_poll:
    MarkedShellJobOperator(
        task_id="job",
        command=[sys.executable, "-c", COMMAND],
        retries=1,
        retry_delay=timedelta(seconds=0),
        poll_interval=0.2,
    )


# The test's job service (providers/http/tests/job_service.py); parsing without the
# variable (the runner's summary step) only needs a well-formed URL.
SERVICE = os.environ.get("RESUMABLE_TEST_HTTP_URL", "http://127.0.0.1:9")

with _dag("rsm_http_job") as http_job:
    HttpJobOperator(
        task_id="job",
        submit_url=f"{SERVICE}/jobs",
        status_url=f"{SERVICE}/jobs/{{id}}",
        result_url=f"{SERVICE}/jobs/{{id}}/result",
        lookup_url=f"{SERVICE}/jobs/by-key/{{token}}",
        json={"seconds": 0.5, "result": {"rows": "{{ dag_run.dag_id }}"}},
        result_path="data.value",
        poll_interval=0.2,
        retries=0,
    )


class MarkedCeleryJobOperator(CeleryJobOperator):
    """Tells the test when it polls, with the Celery task id, so it can be killed then."""

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        FileJobs().mark(
            "polling",
            int(context["ti"].try_number),
            run_id=context["run_id"],
            job_id=external_id,
        )
        super().poll_until_complete(external_id, context)


# The Celery app is built from the environment the test gives the run (its key prefix
# and queue); parsing without it (the runner's summary step) builds an unused default.
from celery_jobs import app as celery_app  # noqa: E402

with _dag("rsm_celery_kill_poll") as celery_kill_poll:
    MarkedCeleryJobOperator(
        task_id="job",
        task_name="rsm_airflow_tests.work_until_released",
        args=[os.environ.get("RESUMABLE_TEST_JOBS", ""), 7],
        app=celery_app,
        retries=1,
        retry_delay=timedelta(seconds=0),
        poll_interval=0.2,
    )
