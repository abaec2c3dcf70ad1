"""The providers' operators in real DAG runs.

ShellJobOperator: the task process is SIGKILLed while it polls; the command goes on in
its own process group, and Airflow's retry reconnects to it (same run folder) instead of
starting it again, then pushes the command's result to XCom. HttpJobOperator: a run
against the tests' job service, with a templated body. CeleryJobOperator: the same kill
while it polls a task on a real Celery worker (Redis broker); the retry follows the same
Celery task id instead of sending the task again.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "Airflow is not installed here; run `nox -s airflow-2.11 airflow-3.2 airflow-3.3`",
        allow_module_level=True,
    )
if importlib.util.find_spec("resumable_providers.shell") is None:
    pytest.skip(
        "the providers are not installed (pip install -e providers/shell -e providers/http)",
        allow_module_level=True,
    )

# The test helpers of the providers' own suites: the http job service, the Celery worker.
PROVIDERS = Path(__file__).resolve().parents[2] / "providers"
sys.path[:0] = [str(PROVIDERS / "http" / "tests"), str(PROVIDERS / "celery" / "tests")]

pytestmark = pytest.mark.slow


def test_shell_operator_killed_mid_run_resumes_on_the_next_try(start_dag_run: Any) -> None:
    run = start_dag_run("rsm_shell_kill_poll")
    first = run.wait_marker("polling", 1)
    run.kill_worker(first)

    second = run.wait_marker("polling", 2)
    assert second["job_id"] == first["job_id"]  # the same run folder: reconnected
    run.jobs.release()
    summary = run.finish()

    assert summary["state"] == "success", run.log_tail()
    job = summary["tasks"]["job"]
    assert job["try_number"] == 2
    assert job["xcom"] == {"returncode": 0, "output_tail": "working\ndone\n"}
    assert (run.jobs.root / "starts.log").read_text() == "started\n"  # ran once


def test_http_operator_runs_a_job_with_a_templated_body(start_dag_run: Any) -> None:
    from job_service import JobService

    with JobService() as service:
        run = start_dag_run("rsm_http_job", RESUMABLE_TEST_HTTP_URL=service.url)
        summary = run.finish()
    assert summary["state"] == "success", run.log_tail()
    assert summary["tasks"]["job"]["xcom"] == {"rows": "rsm_http_job"}
    (job,) = service.jobs.values()
    assert job["key"]  # submitted with an Idempotency-Key


DAGS = Path(__file__).resolve().parent / "dags"


@pytest.fixture
def celery_worker(tmp_path: Path) -> Iterator[str]:
    """A real Celery worker (prefork) on Redis, on a key prefix and queue of its own."""
    from celery_harness import require_redis, running_worker

    require_redis()
    prefix = f"rsm-airflow-celery-{uuid.uuid4().hex[:8]}"
    with running_worker(
        "celery_jobs",
        DAGS,
        prefix,
        tmp_path / "celery-worker.log",
        concurrency=1,
        env={"RSM_AIRFLOW_CELERY_PREFIX": prefix},
    ):
        yield prefix


def test_celery_operator_killed_mid_poll_follows_the_same_celery_task(
    start_dag_run: Any, celery_worker: str
) -> None:
    run = start_dag_run("rsm_celery_kill_poll", RSM_AIRFLOW_CELERY_PREFIX=celery_worker)
    first = run.wait_marker("polling", 1)
    run.kill_worker(first)

    second = run.wait_marker("polling", 2)
    assert second["job_id"] == first["job_id"]  # the same Celery task id: reconnected
    run.jobs.release()
    summary = run.finish()

    assert summary["state"] == "success", run.log_tail()
    job = summary["tasks"]["job"]
    assert job["try_number"] == 2
    assert job["xcom"] == {"rows": 7}
    assert (run.jobs.root / "celery_starts.log").read_text() == "started\n"  # sent once
