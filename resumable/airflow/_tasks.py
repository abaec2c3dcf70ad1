"""``@resumable.task`` functions called inside an Airflow task: their store follows the TI."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from typing import Any

from resumable.airflow._scope import scope_of, task_instance_from_context

_MAX_KEY = 512


def current_airflow_context() -> Mapping[str, Any] | None:
    """The context of the Airflow task running now, or None outside one."""
    if "airflow" not in sys.modules:
        # Nothing has loaded Airflow, so no Airflow task runs in this process. Checked
        # first because every @resumable.task call asks, and a failing import is slow.
        return None
    try:
        from airflow.sdk import get_current_context  # Airflow 3
    except ImportError:
        try:
            from airflow.operators.python import get_current_context  # Airflow 2
        except ImportError:
            return None
    try:
        return get_current_context()  # type: ignore[no-any-return]
    except Exception:  # raised outside a running task, with a version-specific type
        return None


def task_scope_in_airflow(name: str, task_key: str | None) -> tuple[str, str] | None:
    """The ``ctx.store`` scope of task ``name`` called inside the running Airflow task.

    Namespace ``airflow/<dag_id>/task/<name>``, key ``<run_id>/<task_id>/<map_index>``
    (plus ``#<task_key>`` for keyed calls): every try of the Airflow task instance
    reaches the same checkpoints, other runs and mapped instances do not. None outside
    an Airflow task, so the task keeps its own identity-based scope.
    """
    context = current_airflow_context()
    ti = None if context is None else task_instance_from_context(context)
    if ti is None:
        return None
    namespace, key = scope_of(ti)
    namespace = f"{namespace}/task/{name}"
    if task_key is not None:
        key = f"{key}#{task_key}"
    if len(namespace) > _MAX_KEY:
        namespace = "airflow/task/sha256:" + hashlib.sha256(namespace.encode()).hexdigest()
    if len(key) > _MAX_KEY:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return namespace, key
