"""JSON null inside values survives Airflow retries in the task's state store.

On Airflow 3.3 the store is Airflow's own (``context["task_state_store"]``), read back
here through Airflow's REST API as well; before 3.3 it is resumable's own store.
"""

from __future__ import annotations

import importlib.util
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip(
        "Airflow is not installed here; run `nox -s airflow-2.11 airflow-3.2 airflow-3.3`",
        allow_module_level=True,
    )

from airflow_harness import AirflowHome, has_native_store

pytestmark = pytest.mark.slow

NULLS = {"state": {"result_state": None, "life_cycle": "RUNNING"}, "runs": [None, {"id": None}]}


def test_nulls_at_depth_round_trip_across_a_retry(
    start_dag_run: Any, airflow_home: AirflowHome, tmp_path: Path
) -> None:
    run = start_dag_run("rsm_json_null", RESUMABLE_STORE_URL=f"sqlite:///{tmp_path / 's.db'}")

    summary = run.finish()

    assert summary["state"] == "success", run.log_tail()
    task = summary["tasks"]["nulls"]
    assert task["try_number"] == 2
    assert task["xcom"] == {"answer": NULLS, "list": [None, [None]]}
    if has_native_store():
        run_id = urllib.parse.quote(summary["run_id"], safe="")
        body = airflow_home.rest(
            f"dags/rsm_json_null/dagRuns/{run_id}/taskInstances/nulls/state-store"
        )
        entries = body.get("entries", body.get("task_state_store", body))
        native = {entry["key"]: entry["value"] for entry in entries}
        assert native["answer"] == NULLS, native
        assert native["list"] == [None, [None]], native
