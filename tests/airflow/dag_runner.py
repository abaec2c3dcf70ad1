"""Runs one real DAG run of tests/airflow/dags in this process; the tests start it.

    python dag_runner.py run DAG_ID LOGICAL_DATE      -> last stdout line: JSON summary
    python dag_runner.py plain DAG_ID LOGICAL_DATE    -> the same, without an executor
    python dag_runner.py summary DAG_ID LOGICAL_DATE  -> the same summary, read from the DB
    python dag_runner.py reap DAG_ID RUN_ID TASK_ID   (Airflow 2 only, see reap())

``plain`` is a plain ``dag.test()``: every task runs in this process (on Airflow 3
through the in-process execution API), as users debug DAGs.

``run`` uses ``dag.test(use_executor=True)``: tasks go through the configured executor
(LocalExecutor on Airflow 3, SequentialExecutor on Airflow 2), so every try runs in its
own task process that a test can SIGKILL, and retries are real Airflow retries
(try_number 2, same DAG run, same state store).
"""

from __future__ import annotations

import json
import runpy
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parent / "dags"
DAG_FILE = DAGS / "resumable_test_dags.py"


def _airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


def _load_dag(dag_id: str) -> Any:
    sys.path.insert(0, str(DAGS))
    if _airflow_major() < 3:
        # dag.test on Airflow 2 deletes old runs through the ORM, which needs the FAB
        # user table (the DAG run note's foreign key) to be mapped.
        import airflow.providers.fab.auth_manager.models  # noqa: F401
    namespace = runpy.run_path(str(DAG_FILE), run_name="resumable_test_dags")
    for value in namespace.values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise SystemExit(f"no DAG {dag_id!r} in {DAG_FILE}")


def _xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    if _airflow_major() < 3:
        from airflow.models import XCom

        return XCom.get_one(run_id=run_id, dag_id=dag_id, task_id=task_id, key="return_value")
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=run_id, key="return_value", dag_ids=dag_id, task_ids=task_id
        )
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def run(dag_id: str, logical_date: str) -> None:
    dag = _load_dag(dag_id)
    when = datetime.fromisoformat(logical_date)
    if _airflow_major() < 3:
        dag.test(execution_date=when, use_executor=True)
    else:
        dag.test(logical_date=when, use_executor=True)
    summary(dag_id, logical_date)


def plain(dag_id: str, logical_date: str) -> None:
    dag = _load_dag(dag_id)
    when = datetime.fromisoformat(logical_date)
    if _airflow_major() < 3:
        dag.test(execution_date=when)
    else:
        dag.test(logical_date=when)
    summary(dag_id, logical_date)


def summary(dag_id: str, logical_date: str) -> None:
    """Print the run's state, and each task's state, try number and XCom, as JSON."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    when = datetime.fromisoformat(logical_date)
    date_column = DagRun.execution_date if _airflow_major() < 3 else DagRun.logical_date
    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag_id, date_column == when).one()
        result = {
            "state": _text(dag_run.state),
            "run_id": dag_run.run_id,
            "tasks": {
                ti.task_id: {
                    "state": _text(ti.state),
                    "try_number": ti.try_number,
                    "xcom": _xcom(dag_id, dag_run.run_id, ti.task_id),
                }
                for ti in dag_run.get_task_instances(session=session)
            },
        }
    print("SUMMARY " + json.dumps(result), flush=True)


def _text(state: Any) -> str:
    return str(getattr(state, "value", state))


def reap(dag_id: str, run_id: str, task_id: str) -> None:
    """Fail a task instance whose worker died, as Airflow 2's scheduler does.

    On Airflow 2 a SIGKILLed worker leaves its task instance RUNNING; the scheduler's
    zombie detection then calls ``TaskInstance.handle_failure``, which puts it up for
    retry. ``dag.test`` runs no zombie detection, so the test calls the same method.
    """
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    dag = _load_dag(dag_id)
    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id)
            .one()
        )
        if _text(ti.state) != "running":
            raise SystemExit(f"{ti} is {ti.state}, not running")
        ti.task = dag.get_task(task_id)
        ti.handle_failure("worker process was killed (SIGKILL)", session=session)
    print("REAPED", flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"run": run, "plain": plain, "summary": summary, "reap": reap}[command](*args)
