"""Airflow glue: the same ``ResumableJobMixin`` operator on Airflow 2.10+ and 3.x.

- On Airflow 3.3+ the mixin keeps its state in Airflow's native
  ``context["task_state_store"]``.
- On Airflow 2.10 to 3.2 it uses resumable's own store, scoped to the task instance
  (dag_id, run_id, task_id, map_index) and configured by ``RESUMABLE_STORE_URL``, else
  the Airflow connection ``resumable_default``, else the embedded default.
- ``on_kill`` and ``execution_timeout`` cancel the external job (Airflow calls
  ``on_kill`` after a timeout too).
- A ``@resumable.task`` called inside an Airflow task runs inline with its ``ctx.store``
  scoped to the Airflow task instance, so an Airflow retry resumes its checkpoints.

Importing this module registers the store resolver with :mod:`resumable.jobs` and the
task scope provider with :mod:`resumable.tasks` (the lower layers never import this
one). ``import resumable`` imports it, so DAG files need no extra import; importing it
does not import Airflow. Nothing outside this package imports Airflow.
"""

from resumable.airflow._config import CONNECTION_ID, store_url_in_airflow, url_from_connection
from resumable.airflow._lifecycle import install
from resumable.airflow._resolver import get_task_state_store, own_store_for
from resumable.airflow._scope import (
    TaskInstanceId,
    is_final_try,
    scope_of,
    task_instance_from_context,
    task_instance_of,
)
from resumable.airflow._tasks import current_airflow_context, task_scope_in_airflow

install()

__all__ = [
    "CONNECTION_ID",
    "TaskInstanceId",
    "current_airflow_context",
    "get_task_state_store",
    "install",
    "is_final_try",
    "own_store_for",
    "scope_of",
    "store_url_in_airflow",
    "task_instance_from_context",
    "task_instance_of",
    "task_scope_in_airflow",
    "url_from_connection",
]
