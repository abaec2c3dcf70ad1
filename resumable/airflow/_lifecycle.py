"""Wiring resumable's job lifecycle into Airflow's."""

from __future__ import annotations

from resumable.airflow._resolver import own_store_for
from resumable.airflow._tasks import task_scope_in_airflow
from resumable.jobs import register_store_resolver
from resumable.tasks._identity import register_ambient_state_scope


def install() -> None:
    """Register the Airflow store resolver and task scope provider (idempotent).

    Called when :mod:`resumable.airflow` is imported. The resolver gives jobs on
    Airflow 2.10 to 3.2 (no native store in their context) resumable's own store; the
    provider scopes ``ctx.store`` of a ``@resumable.task`` called inside an Airflow task
    to that task instance.

    Cancellation needs no wiring: Airflow calls the operator's ``on_kill`` on SIGTERM
    and after ``execution_timeout`` on every supported version, and the mixin's
    ``on_kill`` cancels the job it is polling.
    """
    register_store_resolver(own_store_for)
    register_ambient_state_scope(task_scope_in_airflow)
