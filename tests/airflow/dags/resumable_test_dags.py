"""DAGs for tests/airflow: one operator written once with resumable.ResumableJobMixin.

The same file runs on Airflow 2.11, 3.2 and 3.3; only the imports differ.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from file_jobs import FileJobs

import resumable
from resumable import ResumableJobMixin

try:
    from airflow.sdk import DAG, BaseOperator, get_current_context  # Airflow 3
    from airflow.sdk import task as airflow_task
except ImportError:
    from airflow.decorators import task as airflow_task  # Airflow 2
    from airflow.models import DAG, BaseOperator
    from airflow.operators.python import get_current_context

POLL_DEADLINE_SECONDS = 120


class FileJobOperator(ResumableJobMixin, BaseOperator):
    """Submits a job to :class:`FileJobs` and polls it until it ends."""

    external_id_key = "file_job_id"

    def __init__(self, *, hang_in_submit_on_try: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hang_in_submit_on_try = hang_in_submit_on_try

    def execute(self, context: Any) -> Any:
        return self.execute_resumable(context)

    def _try(self, context: Any) -> int:
        return int(context["ti"].try_number)

    def submit_job(self, context: Any) -> Any:
        jobs = FileJobs()
        job_id = jobs.submit(self.idempotency_token(context))
        try_number = self._try(context)
        if self.hang_in_submit_on_try == try_number:
            # The external system accepted the job; the worker dies before the id is
            # returned (and so before it can be saved): the test kills us here.
            jobs.mark("in_submit", try_number, run_id=context["run_id"], job_id=job_id)
            time.sleep(POLL_DEADLINE_SECONDS)
        return job_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return FileJobs().status(external_id)

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        jobs = FileJobs()
        jobs.mark("polling", self._try(context), run_id=context["run_id"], job_id=external_id)
        deadline = time.monotonic() + POLL_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            status = jobs.watch(external_id)
            if status == "SUCCEEDED":
                return
            if status != "RUNNING":
                raise RuntimeError(f"job {external_id} ended {status}")
            time.sleep(0.1)
        raise TimeoutError(f"job {external_id} still running after {POLL_DEADLINE_SECONDS}s")

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return FileJobs().result(external_id)

    def find_job(self, token: str, context: Any) -> Any:
        return FileJobs().find(token)

    def cancel_job(self, external_id: Any, context: Any) -> None:
        FileJobs().cancel(external_id)


START = datetime(2024, 1, 1, tzinfo=timezone.utc)
NO_DELAY = timedelta(seconds=0)


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["resumable-tests"])


with _dag("rsm_kill_poll") as kill_poll:
    FileJobOperator(task_id="job", retries=1, retry_delay=NO_DELAY)

with _dag("rsm_kill_submit") as kill_submit:
    FileJobOperator(task_id="job", retries=1, retry_delay=NO_DELAY, hang_in_submit_on_try=1)

with _dag("rsm_on_kill") as on_kill:
    FileJobOperator(task_id="job", retries=0)

with _dag("rsm_timeout") as timeout:
    FileJobOperator(task_id="job", retries=0, execution_timeout=timedelta(seconds=5))

with _dag("rsm_fail_cancel") as fail_cancel:
    FileJobOperator(task_id="job", retries=1, retry_delay=NO_DELAY, cancel_on_failure=True)

with _dag("rsm_fail_keep") as fail_keep:
    FileJobOperator(task_id="job", retries=0)


@resumable.task(name="rsm_count_pages")
def count_pages(total: int) -> None:
    """A resumable task: checkpoints each page; crashes after page 2 on Airflow's try 1."""
    try_number = int(get_current_context()["ti"].try_number)
    store = resumable.get_context().store
    for page in range(store.get("done", 0), total):
        FileJobs().record_page(page, try_number)
        store.set("done", page + 1)
        if page == 2 and try_number == 1:
            raise RuntimeError("worker lost after page 2")


with _dag("rsm_task_inside") as task_inside:

    @airflow_task(task_id="pages", retries=1, retry_delay=NO_DELAY)
    def pages() -> str:
        finished = count_pages(5)  # runs inline, in this Airflow task
        if finished.status != "success":
            raise RuntimeError(f"count_pages ended {finished.status}: {finished.error_message}")
        return str(finished.status)

    pages()


with _dag("rsm_plain") as plain:

    @airflow_task(task_id="pages")
    def plain_pages() -> str:
        finished = count_pages(2)  # ends before the page where try 1 would crash
        return str(finished.status)

    plain_pages()


# JSON null at depth through the task's state store (Airflow's own on 3.3+): try 1
# writes, fails; try 2 reads what try 1 wrote and returns it to XCom.
NULLS = {"state": {"result_state": None, "life_cycle": "RUNNING"}, "runs": [None, {"id": None}]}

with _dag("rsm_json_null") as json_null:

    @airflow_task(task_id="nulls", retries=1, retry_delay=NO_DELAY)
    def nulls() -> Any:
        from resumable.airflow import get_task_state_store

        context = get_current_context()
        store = get_task_state_store(context)
        if int(context["ti"].try_number) == 1:
            store.set("answer", NULLS)
            store.set("list", [None, [None]])
            raise RuntimeError("try 1 fails after writing")
        return {"answer": store.get("answer"), "list": store.get("list")}

    nulls()


# The providers' DAGs, where the providers are installed (the airflow nox sessions).
with contextlib.suppress(ImportError):
    from provider_dags import celery_kill_poll, http_job, shell_kill_poll  # noqa: F401
