"""A @resumable.task called inside an Airflow task resumes across Airflow retries.

Its ``ctx.store`` is scoped to the Airflow task instance, so try 2 of the Airflow task
starts the resumable task where try 1's checkpoints left it.
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

pytestmark = pytest.mark.slow


def test_task_store_is_scoped_to_the_task_instance(start_dag_run: Any) -> None:
    run = start_dag_run("rsm_task_inside")

    summary = run.finish()

    assert summary["state"] == "success", run.log_tail()
    pages = summary["tasks"]["pages"]
    assert pages["try_number"] == 2
    assert pages["xcom"] == "success"
    # Try 1 processed pages 0-2 and died; try 2 resumed at page 3, repeating none.
    assert run.jobs.pages() == [(1, 0), (1, 1), (1, 2), (2, 3), (2, 4)]


def test_plain_dag_test_runs_in_process(start_dag_run: Any) -> None:
    # A plain dag.test(), as users debug DAGs: on Airflow 3 it goes through Airflow's
    # in-process execution API, which broke with svcs 26.2.0 on Airflow 3.2.2 (the
    # constraints files pin a working svcs).
    run = start_dag_run("rsm_plain", command="plain")

    summary = run.finish()

    assert summary["state"] == "success", run.log_tail()
    assert summary["tasks"]["pages"]["xcom"] == "success"
    assert run.jobs.pages() == [(1, 0), (1, 1)]
