"""The external job is cancelled when Airflow kills the task or it times out.

Real DAG runs: ``on_kill`` runs when the task process gets SIGTERM (what Airflow's
supervisor sends when a running task is marked failed or cleared, and what Kubernetes
sends a terminating pod); ``execution_timeout`` raises in the task and Airflow calls
``on_kill``. Either way the job the operator was polling must end up cancelled.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "Airflow is not installed here; run `nox -s airflow-2.11 airflow-3.2 airflow-3.3`",
        allow_module_level=True,
    )

from airflow_harness import has_native_store

from resumable import open_store
from resumable.airflow import TaskInstanceId, scope_of

pytestmark = pytest.mark.slow


def test_on_kill_cancels_the_polled_job(start_dag_run: Any, tmp_path: Path) -> None:
    # Before 3.3 the store comes from the Airflow connection resumable_default.
    conn_db = tmp_path / "from-connection.db"
    conn = json.dumps({"conn_type": "sqlite", "host": str(conn_db)})
    run = start_dag_run("rsm_on_kill", AIRFLOW_CONN_RESUMABLE_DEFAULT=conn)
    polling = run.wait_marker("polling", 1)

    os.kill(polling["pid"], signal.SIGTERM)
    summary = run.finish()

    job_id = polling["job_id"]
    assert run.jobs.status(job_id) == "CANCELLED"
    assert run.jobs.submissions() == [job_id]
    assert summary["state"] == "failed", run.log_tail()
    if has_native_store():
        assert not conn_db.exists()  # Airflow's own store was used
    else:
        with open_store(f"sqlite:///{conn_db}") as store:
            ti = TaskInstanceId("rsm_on_kill", summary["run_id"], "job")
            assert store.scope(*scope_of(ti)).get("file_job_id") == job_id


def test_execution_timeout_cancels_the_polled_job(start_dag_run: Any) -> None:
    run = start_dag_run("rsm_timeout")  # execution_timeout=5s; the job never ends
    polling = run.wait_marker("polling", 1)

    summary = run.finish()

    assert run.jobs.status(polling["job_id"]) == "CANCELLED"
    assert summary["state"] == "failed", run.log_tail()
    assert summary["tasks"]["job"]["try_number"] == 1


def test_final_failure_cancels_when_the_operator_opts_in(start_dag_run: Any) -> None:
    run = start_dag_run("rsm_fail_cancel")  # retries=1, cancel_on_failure=True
    job_id = run.wait_marker("polling", 1)["job_id"]

    run.jobs.break_watch()  # every poll now fails: both tries fail
    summary = run.finish()

    # Try 1 failed with a retry left: the job was kept, and try 2 reconnected to it.
    assert run.jobs.marker("polling", 2)["job_id"] == job_id
    assert run.jobs.submissions() == [job_id]
    # Try 2 was the last: the job was cancelled (apache/airflow#72128).
    assert run.jobs.status(job_id) == "CANCELLED"
    assert summary["state"] == "failed", run.log_tail()
    assert summary["tasks"]["job"]["try_number"] == 2


def test_final_failure_leaves_the_job_alone_by_default(start_dag_run: Any) -> None:
    run = start_dag_run("rsm_fail_keep")  # retries=0, cancel_on_failure not set
    job_id = run.wait_marker("polling", 1)["job_id"]

    run.jobs.break_watch()
    summary = run.finish()

    assert summary["state"] == "failed", run.log_tail()
    assert run.jobs.status(job_id) == "RUNNING"
