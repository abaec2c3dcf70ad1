"""Fixtures for tests/airflow: an Airflow home with an API server, and real DAG runs.

These tests run only where Airflow is installed — the ``airflow-2.11``, ``airflow-3.2``
and ``airflow-3.3`` nox sessions, which also run ``airflow db migrate`` in a temporary
``AIRFLOW_HOME``. Elsewhere the DAG-run modules skip themselves, with the reason shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import (
    AIRFLOW_MISSING,
    DAGS,
    SKIP_REASON,
    AirflowHome,
    DagRunProcess,
    _free_port,
    _healthy,
    _stop,
    _wait_until,
    airflow_version,
)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowHome]:
    """Airflow's environment; on Airflow 3 also a running ``airflow api-server``.

    Uses ``AIRFLOW_HOME`` when set (the nox session migrated it), else a fresh temporary
    home migrated here.
    """
    if AIRFLOW_MISSING:
        pytest.skip(SKIP_REASON)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    home = env.get("AIRFLOW_HOME") or str(tmp_path_factory.mktemp("airflow_home"))
    env.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        # LocalExecutor starts this many worker processes; one task at a time is enough.
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor"
        if airflow_version() >= (3, 0)
        else "SequentialExecutor",
        # Airflow 2's SequentialExecutor runs the `airflow` command of this venv.
        PATH=bin_dir + os.pathsep + env.get("PATH", ""),
        PYTHONPATH=str(DAGS) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    if not Path(home, "airflow.db").exists():
        subprocess.run(
            [str(Path(bin_dir, "airflow")), "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
    if airflow_version() < (3, 0):
        yield AirflowHome(env, None)
        return
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    env.update(
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{api_url}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__BASE_URL=api_url,
    )
    with Path(home, "api-server.log").open("w") as log:
        server = subprocess.Popen(
            [str(Path(bin_dir, "airflow")), "api-server", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until(lambda: _healthy(api_url) or server.poll() is not None, "API server")
            if server.poll() is not None:
                raise AssertionError(f"airflow api-server exited; see {log.name}")
            yield AirflowHome(env, api_url)
        finally:
            _stop(server)


@pytest.fixture
def start_dag_run(airflow_home: AirflowHome, tmp_path: Path) -> Iterator[Any]:
    """``start_dag_run(dag_id, **env)`` starts a real DAG run and returns its handle.

    ``start_dag_run(dag_id, command="plain")`` runs a plain in-process ``dag.test()``.
    """
    runs: list[DagRunProcess] = []

    def start(dag_id: str, command: str = "run", **env: str) -> DagRunProcess:
        run = DagRunProcess(airflow_home, dag_id, tmp_path / f"run{len(runs)}", env, command)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()
