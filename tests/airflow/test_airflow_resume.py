"""An operator written once with resumable.ResumableJobMixin resumes in real DAG runs.

Each test runs a real DAG run (``dag.test(use_executor=True)``) in a subprocess, kills
the process running the task with SIGKILL, and lets Airflow retry it: try 2 must
reconnect to the job try 1 submitted (one submission) and push ``get_job_result``'s
value to XCom. On Airflow 3.3 the state lives in Airflow's native task state store; on
2.11 and 3.2 in resumable's own store.
"""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "Airflow is not installed here; run `nox -s airflow-2.11 airflow-3.2 airflow-3.3`",
        allow_module_level=True,
    )

from airflow_harness import AirflowHome, DagRunProcess, airflow_version, has_native_store

from resumable import open_store
from resumable.airflow import TaskInstanceId, scope_of

pytestmark = pytest.mark.slow

KEY = "file_job_id"  # the operator's external_id_key


def _native_state(home: AirflowHome, dag_id: str, run_id: str) -> dict[str, Any]:
    """The task's keys as Airflow's own REST API lists them (Airflow 3.3+)."""
    run = urllib.parse.quote(run_id, safe="")
    body = home.rest(f"dags/{dag_id}/dagRuns/{run}/taskInstances/job/state-store")
    entries = body.get("entries", body.get("task_state_store", body))
    return {entry["key"]: entry["value"] for entry in entries}


def _own_state(url: str, dag_id: str, run_id: str) -> Any:
    with open_store(url) as store:
        scope = store.scope(*scope_of(TaskInstanceId(dag_id, run_id, "job")))
        return {key: scope.get(key) for key in scope.keys()}


def _assert_state_holds_job(
    home: AirflowHome, dag_id: str, run_id: str, job_id: str, own_url: str | None
) -> None:
    if has_native_store():
        native = _native_state(home, dag_id, run_id)
        assert native[KEY] == job_id, native
        assert f"{KEY}.resumable" in native, native  # the intent/token/status record too
        if own_url is not None:
            assert _own_state(own_url, dag_id, run_id) == {}  # nothing went elsewhere
    else:
        assert own_url is not None
        state = _own_state(own_url, dag_id, run_id)
        assert state[KEY] == job_id, state


def _reconnected_run(run: DagRunProcess, dying_event: str) -> tuple[dict[str, Any], str]:
    """Kill try 1 at ``dying_event``; let try 2 poll, then finish the job."""
    marker = run.wait_marker(dying_event, 1)
    run.kill_worker(marker)
    polling = run.wait_marker("polling", 2)
    run.jobs.release()
    summary = run.finish()
    return summary, polling["job_id"]


def test_worker_killed_mid_poll_reconnects_on_retry(
    start_dag_run: Any, airflow_home: AirflowHome, tmp_path: Path
) -> None:
    own_url = f"sqlite:///{tmp_path / 'own-store.db'}"
    run = start_dag_run("rsm_kill_poll", RESUMABLE_STORE_URL=own_url)

    summary, job_id = _reconnected_run(run, "polling")

    job = summary["tasks"]["job"]
    assert summary["state"] == "success", run.log_tail()
    assert job["try_number"] == 2
    assert run.jobs.submissions() == [job_id]  # one submission: try 2 reconnected
    assert run.jobs.marker("polling", 1)["job_id"] == job_id
    assert job["xcom"] == {"job_id": job_id, "rows": 42}  # get_job_result, not the poll's
    _assert_state_holds_job(airflow_home, "rsm_kill_poll", summary["run_id"], job_id, own_url)


def test_worker_killed_inside_submit_is_recovered_through_find_job(
    start_dag_run: Any, airflow_home: AirflowHome, tmp_path: Path
) -> None:
    # No RESUMABLE_STORE_URL: before 3.3 the embedded default store (RESUMABLE_HOME).
    run = start_dag_run("rsm_kill_submit")
    accepted = run.wait_marker("in_submit", 1)

    summary, job_id = _reconnected_run(run, "in_submit")

    assert accepted["job_id"] == job_id  # try 2 found try 1's job by its token
    assert run.jobs.submissions() == [job_id]
    assert summary["state"] == "success", run.log_tail()
    assert summary["tasks"]["job"]["try_number"] == 2
    assert summary["tasks"]["job"]["xcom"] == {"job_id": job_id, "rows": 42}
    embedded = Path(os.environ["RESUMABLE_HOME"]) / "state.db"
    if not has_native_store():
        assert embedded.exists(), "the embedded default store was not used"
    _assert_state_holds_job(
        airflow_home,
        "rsm_kill_submit",
        summary["run_id"],
        job_id,
        None if has_native_store() else f"sqlite:///{embedded}",
    )


def test_versions_under_test() -> None:
    # The sessions pin these; a resolver surprise would make the others meaningless.
    assert airflow_version() in {(2, 11), (3, 2), (3, 3)}, json.dumps(airflow_version())
