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
import os
import subprocess
import sys
import time
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "providers" / "http" / "tests"))

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
    import redis

    url = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {url}")
    prefix = f"rsm-airflow-celery-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "celery-worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_jobs",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"{prefix}@%h",
            ],
            cwd=DAGS,
            env={**os.environ, "RSM_AIRFLOW_CELERY_PREFIX": prefix},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield prefix
    finally:
        os.killpg(worker.pid, 15)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
            worker.wait()


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
