"""The store of an Airflow task instance: Airflow's own on 3.3+, resumable's before."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from resumable._errors import ConfigurationError
from resumable.airflow._config import store_url_in_airflow
from resumable.airflow._scope import scope_of, task_instance_from_context
from resumable.store import Store, TaskStateStore, open_store

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def _store(url: str) -> Store:
    # One Store (one engine or client) per URL and process: a worker runs many tasks.
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = open_store(url)
        return store


def own_store_for(context: Mapping[str, Any]) -> TaskStateStore | None:
    """Resumable's store scoped to the context's task instance, fenced to this try.

    The scope is (dag_id, run_id, task_id, map_index), as Airflow 3.3 scopes its own
    store, so every try of the task instance sees what earlier tries wrote. The handle
    is a fresh fenced attempt: once a later try has started, a zombie earlier try can
    no longer overwrite the state. None when the context is not an Airflow task's.

    Raises:
        StoreUnavailableError: The configured store cannot be reached.
        ConfigurationError: The ``resumable_default`` connection names no store.
    """
    ti = task_instance_from_context(context)
    if ti is None:
        return None
    return _store(store_url_in_airflow()).scope(*scope_of(ti)).new_attempt()


def get_task_state_store(context: Mapping[str, Any]) -> Any:
    """The checkpoint store of the running Airflow task, on any Airflow version.

    On Airflow 3.3+ that is Airflow's own ``context["task_state_store"]`` (visible in
    Airflow's UI and REST API); on 2.10 to 3.2 resumable's store, scoped to the task
    instance (see :func:`own_store_for`). Both offer ``get(key, default)``,
    ``set(key, value, retention=...)``, ``delete(key)`` and ``clear()``.

    Raises:
        ConfigurationError: ``context`` is not the context of an Airflow task.
    """
    native = context.get("task_state_store")
    if native is not None:
        return native
    own = own_store_for(context)
    if own is None:
        raise ConfigurationError(
            "get_task_state_store() needs the context of a running Airflow task (one holding 'ti')"
        )
    return own
