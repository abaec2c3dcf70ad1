"""resumable.airflow's pure parts and the final-failure rule, without Airflow.

These run in the default test suite (no Airflow needed, milliseconds each); the real DAG
runs are in the other modules of this directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import resumable
from resumable import ConfigurationError, ResumableJobMixin, open_store, run_job
from resumable.airflow import (
    TaskInstanceId,
    get_task_state_store,
    is_final_try,
    own_store_for,
    scope_of,
    store_url_in_airflow,
    task_instance_from_context,
    task_instance_of,
    task_scope_in_airflow,
    url_from_connection,
)


@dataclass
class TI:
    """The attributes Airflow's task instance carries on every supported version."""

    dag_id: str = "etl"
    run_id: str = "manual__2026-11-21T00:00:00+00:00"
    task_id: str = "load"
    map_index: int = -1
    try_number: int = 1
    max_tries: int = 0


@dataclass
class Conn:
    """Field for field what Airflow's Connection exposes."""

    conn_type: str | None
    host: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


@pytest.mark.parametrize(
    "ti",
    [
        TaskInstanceId("etl", "manual__2026-11-21T00:00:00+00:00", "load"),
        TaskInstanceId("etl", "run/with/slashes", "load", 7),
        TaskInstanceId("a.b-c", "r", "group.task", 0),
    ],
)
def test_scope_round_trips(ti: TaskInstanceId) -> None:
    namespace, key = scope_of(ti)
    assert namespace == f"airflow/{ti.dag_id}"
    assert task_instance_of(namespace, key) == ti


def test_scopes_of_different_task_instances_differ() -> None:
    base = TaskInstanceId("etl", "run-1", "load", -1)
    others = [base._replace(run_id="run-2"), base._replace(task_id="x"), base._replace(map_index=0)]
    assert len({scope_of(ti) for ti in [base, *others]}) == 4


@pytest.mark.parametrize(
    ("namespace", "key"), [("etl", "r/t/-1"), ("airflow/etl", "r/t/x"), ("airflow/etl", "r-t")]
)
def test_foreign_scopes_are_rejected(namespace: str, key: str) -> None:
    with pytest.raises(ConfigurationError):
        task_instance_of(namespace, key)


def test_task_instance_from_context() -> None:
    assert task_instance_from_context({"ti": TI(map_index=3)}) == TaskInstanceId(
        "etl", "manual__2026-11-21T00:00:00+00:00", "load", 3
    )
    assert task_instance_from_context({"try_number": 1}) is None  # a run_job context


@pytest.mark.parametrize(
    ("try_number", "max_tries", "final"),
    [(1, 0, True), (1, 1, False), (2, 1, True), (3, 3, False), (4, 3, True), (None, 1, False)],
)
def test_final_try_follows_airflows_retry_rule(
    try_number: int | None, max_tries: int | None, final: bool
) -> None:
    assert is_final_try(try_number, max_tries) is final


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        (Conn("sqlite", host="/data/state.db"), "sqlite:////data/state.db"),
        (
            Conn("postgres", "db", "air flow", "p@ss", 5433, "airflow"),
            "postgresql://air%20flow:p%40ss@db:5433/airflow",
        ),
        (Conn("redis", "cache", password="pw", extra={"db": 2}), "redis://:pw@cache:6379/2"),
        (Conn("http", extra={"url": "memory://"}), "memory://"),
    ],
)
def test_url_from_connection(conn: Conn, url: str) -> None:
    assert url_from_connection(conn) == url


@pytest.mark.parametrize("conn", [Conn("http", host="x"), Conn("sqlite")])
def test_connection_naming_no_store_is_a_configuration_error(conn: Conn) -> None:
    with pytest.raises(ConfigurationError):
        url_from_connection(conn)


def test_environment_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_STORE_URL", "memory://env")
    assert store_url_in_airflow() == "memory://env"


def test_own_store_is_scoped_to_the_task_instance_and_fenced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("RESUMABLE_STORE_URL", url)
    first = own_store_for({"ti": TI()})
    assert first is not None
    first.set("job", "j-1")
    second = own_store_for({"ti": TI(try_number=2)})
    assert second is not None and second.get("job") == "j-1"  # the retry sees it
    with pytest.raises(resumable.StaleAttemptError):
        first.set("job", "zombie")  # try 1 is fenced off once try 2 started
    assert own_store_for({"ti": TI(run_id="other")}).get("job") is None  # type: ignore[union-attr]
    with open_store(url) as store:
        assert store.scope(*scope_of(TaskInstanceId(**_ids(TI())))).get("job") == "j-1"


def _ids(ti: TI) -> dict[str, Any]:
    return {k: getattr(ti, k) for k in ("dag_id", "run_id", "task_id", "map_index")}


def test_get_task_state_store_prefers_the_native_one() -> None:
    native = object()
    assert get_task_state_store({"task_state_store": native, "ti": TI()}) is native
    with pytest.raises(ConfigurationError):
        get_task_state_store({"try_number": 1})


class WatchLost(Exception):
    """The poll lost its connection to the external system."""


class FlakyWatchJob(ResumableJobMixin):
    """A job whose poll always fails; the external job itself keeps running."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.submitted: list[str] = []
        self.cancelled: list[str] = []

    def submit_job(self, context: Any) -> Any:
        self.submitted.append(f"job-{len(self.submitted) + 1}")
        return self.submitted[-1]

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return "CANCELLED" if external_id in self.cancelled else "RUNNING"

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        raise WatchLost(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return external_id

    def cancel_job(self, external_id: Any, context: Any) -> None:
        self.cancelled.append(external_id)


def test_cancel_on_failure_cancels_only_after_the_last_try() -> None:
    job = FlakyWatchJob(cancel_on_failure=True)
    scope = open_store("memory://").scope("pipeline", "run-1")
    with pytest.raises(WatchLost):
        # Airflow's numbers: max_tries=1 means one retry, as retries=1 does.
        run_job(job, store=scope, retries=1, context={"max_tries": 1})
    assert job.submitted == ["job-1"]  # try 2 reconnected: try 1 did not cancel
    assert job.cancelled == ["job-1"]  # try 2 was the last: cancelled, once


def test_without_cancel_on_failure_the_job_is_left_running() -> None:
    job = FlakyWatchJob()
    scope = open_store("memory://").scope("pipeline", "run-2")
    with pytest.raises(WatchLost):
        run_job(job, store=scope, context={"max_tries": 0})
    assert job.cancelled == []


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_cancel_on_failure_must_be_a_bool(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="cancel_on_failure"):
        FlakyWatchJob(cancel_on_failure=bad)


def test_nothing_here_imports_airflow() -> None:
    import subprocess
    import sys

    code = "import sys, resumable.airflow; print(json.dumps('airflow' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", "import json;" + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) is False


def test_tasks_outside_airflow_keep_their_own_scope() -> None:
    assert task_scope_in_airflow("export", None) is None
