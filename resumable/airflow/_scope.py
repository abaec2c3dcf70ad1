"""Where a task instance's state lives in resumable's own store (pure functions).

Airflow 3.3 keys its native ``task_state_store`` by (dag_id, run_id, task_id,
map_index): retries of one task instance share their state, other runs and other
mapped instances do not. Resumable's store has two-part scopes (namespace, key), so the
four parts are folded into two, in a way that can be read back unambiguously.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from resumable._errors import ConfigurationError

NAMESPACE_PREFIX = "airflow/"


class TaskInstanceId(NamedTuple):
    """The four parts that name one Airflow task instance across its tries."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


def scope_of(ti: TaskInstanceId) -> tuple[str, str]:
    """The (namespace, key) scope of ``ti`` in resumable's store.

    The namespace is ``airflow/<dag_id>``; the key ``<run_id>/<task_id>/<map_index>``.
    Airflow forbids ``/`` in task ids and map indexes are integers, so splitting the
    key from the right recovers a run id even when it holds slashes.

    >>> scope_of(TaskInstanceId("etl", "manual__2026-11-21T00:00:00+00:00", "load"))
    ('airflow/etl', 'manual__2026-11-21T00:00:00+00:00/load/-1')
    """
    return f"{NAMESPACE_PREFIX}{ti.dag_id}", f"{ti.run_id}/{ti.task_id}/{ti.map_index}"


def task_instance_of(namespace: str, key: str) -> TaskInstanceId:
    """The task instance a scope made by :func:`scope_of` belongs to.

    Raises:
        ConfigurationError: The scope was not made by :func:`scope_of`.
    """
    run_id, sep1, rest = key.rpartition("/")
    run_id, sep2, task_id = run_id.rpartition("/")
    if not (namespace.startswith(NAMESPACE_PREFIX) and sep1 and sep2):
        raise ConfigurationError(f"not an Airflow task-instance scope: ({namespace!r}, {key!r})")
    try:
        map_index = int(rest)
    except ValueError:
        raise ConfigurationError(
            f"not an Airflow task-instance scope: ({namespace!r}, {key!r})"
        ) from None
    return TaskInstanceId(namespace[len(NAMESPACE_PREFIX) :], run_id, task_id, map_index)


def task_instance_from_context(context: Mapping[str, Any]) -> TaskInstanceId | None:
    """The task instance an Airflow context belongs to, or None when it is not Airflow's.

    Reads ``context["ti"]`` (``dag_id``, ``task_id``, ``map_index``, and ``run_id`` on
    Airflow 2.10+ and 3.x), falling back to ``context["dag_run"].run_id``.
    """
    ti = context.get("ti")
    if ti is None:
        return None
    dag_id = getattr(ti, "dag_id", None)
    task_id = getattr(ti, "task_id", None)
    run_id = getattr(ti, "run_id", None) or getattr(context.get("dag_run"), "run_id", None)
    map_index = getattr(ti, "map_index", None)
    if not (isinstance(dag_id, str) and isinstance(task_id, str) and isinstance(run_id, str)):
        return None
    if not isinstance(map_index, int) or isinstance(map_index, bool):
        map_index = -1
    return TaskInstanceId(dag_id, run_id, task_id, map_index)


def is_final_try(try_number: int | None, max_tries: int | None) -> bool:
    """Whether a failure of try ``try_number`` ends the task instance for good.

    Airflow retries a failed try while ``max_tries != 0 and try_number <= max_tries``
    (``max_tries`` is the task's ``retries``, raised when the task is cleared). Unknown
    numbers count as not final: cancelling a job a retry would reconnect to is worse
    than leaving one running.
    """
    if try_number is None or max_tries is None:
        return False
    return not (max_tries != 0 and try_number <= max_tries)
