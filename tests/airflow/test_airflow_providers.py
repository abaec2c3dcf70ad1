"""The providers' operators in real DAG runs: ShellJobOperator survives a SIGKILLed try.

The task process running the operator is SIGKILLed while it polls; the command goes on
in its own process group, and Airflow's retry reconnects to it (same run folder) instead
of starting it again, then pushes the command's result to XCom.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "Airflow is not installed here; run `nox -s airflow-2.11 airflow-3.2 airflow-3.3`",
        allow_module_level=True,
    )
if importlib.util.find_spec("resumable_providers.shell") is None:
    pytest.skip(
        "the shell provider is not installed (pip install -e providers/shell)",
        allow_module_level=True,
    )

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
