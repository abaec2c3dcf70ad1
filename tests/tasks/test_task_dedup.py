"""Deduplication, scopes and visibility (SEMANTICS.md: Deduplication and scopes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, TaskScope, acting_as, get_context, task


@pytest.fixture
def parked(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")


@pytest.mark.usefixtures("parked")
def test_unkeyed_calls_create_new_tasks() -> None:
    @task
    def job() -> None: ...

    assert job.schedule().uuid != job.schedule().uuid


@pytest.mark.usefixtures("parked")
def test_keyed_call_joins_the_active_task_and_a_finished_one_frees_the_key() -> None:
    @task(scope=TaskScope.SHARED)
    def job() -> None: ...

    options = TaskOptions(task_key="k")
    with acting_as("alice"):
        first = job.schedule(options=options)
    with acting_as("bob"):
        second = job.schedule(options=options)
    assert second.uuid == first.uuid and second.subscribers == ["alice", "bob"]
    first.cancel()  # the system aborts it: the key is free again
    with acting_as("alice"):
        third = job.schedule(options=options)
    assert third.uuid != first.uuid and third.status == "pending"


@pytest.mark.usefixtures("parked")
def test_private_identity_includes_the_user_shared_and_system_do_not() -> None:
    @task
    def mine() -> None: ...

    @task(scope=TaskScope.SHARED)
    def ours() -> None: ...

    @task(scope=TaskScope.SYSTEM)
    def sys_job() -> None: ...

    options = TaskOptions(task_key="same")
    uuids: dict[str, set[str]] = {"mine": set(), "ours": set(), "sys": set()}
    for user in ("alice", "bob"):
        with acting_as(user):
            uuids["mine"].add(mine.schedule(options=options).uuid)
            uuids["ours"].add(ours.schedule(options=options).uuid)
            uuids["sys"].add(sys_job.schedule(options=options).uuid)
    assert len(uuids["mine"]) == 2 and len(uuids["ours"]) == 1 and len(uuids["sys"]) == 1


@pytest.mark.usefixtures("parked")
def test_same_key_different_task_names_do_not_collide() -> None:
    @task(scope=TaskScope.SHARED)
    def a() -> None: ...

    @task(scope=TaskScope.SHARED)
    def b() -> None: ...

    options = TaskOptions(task_key="k")
    assert a.schedule(options=options).uuid != b.schedule(options=options).uuid


@pytest.mark.usefixtures("parked")
def test_shared_without_key_is_a_value_error_and_writes_nothing() -> None:
    @task(scope=TaskScope.SHARED)
    def shared() -> None: ...

    with pytest.raises(ValueError, match="task_key"):
        shared.schedule()
    with pytest.raises(resumable.ConfigurationError):
        shared()
    assert resumable.list_tasks() == []


@pytest.mark.usefixtures("parked")
def test_visibility_per_scope() -> None:
    @task
    def private_job() -> None: ...

    @task(scope=TaskScope.SHARED)
    def shared_job() -> None: ...

    @task(scope=TaskScope.SYSTEM)
    def system_job() -> None: ...

    with acting_as("alice"):
        private = private_job.schedule()
        shared = shared_job.schedule(options=TaskOptions(task_key="s"))
    system = system_job.schedule(options=TaskOptions(task_key="y"))  # by the system
    with acting_as("bob"):
        for hidden in (private, shared, system):
            with pytest.raises(resumable.TaskNotFoundError):
                resumable.get_task(hidden.uuid)
        assert resumable.list_tasks() == []
        shared_job.schedule(options=TaskOptions(task_key="s"))  # subscribe
        assert [t.uuid for t in resumable.list_tasks()] == [shared.uuid]
    with acting_as("alice"):
        assert {t.uuid for t in resumable.list_tasks()} == {private.uuid, shared.uuid}
    with acting_as("root", admin=True):
        assert {t.uuid for t in resumable.list_tasks()} == {private.uuid, shared.uuid, system.uuid}
    assert len(resumable.list_tasks()) == 3  # the system sees everything
    with pytest.raises(resumable.TaskNotFoundError):
        resumable.get_task("00000000-0000-0000-0000-000000000000")


@pytest.mark.usefixtures("parked")
def test_list_tasks_filters_by_status_and_limits() -> None:
    @task
    def job() -> None: ...

    tasks = [job.schedule() for _ in range(5)]
    tasks[0].cancel()
    assert [t.uuid for t in resumable.list_tasks(status="aborted")] == [tasks[0].uuid]
    assert len(resumable.list_tasks(status=["pending", "aborted"])) == 5
    assert len(resumable.list_tasks(limit=2)) == 2
    with pytest.raises(resumable.InvalidValueError):
        resumable.list_tasks(status="sleeping")
    with pytest.raises(resumable.InvalidValueError):
        resumable.list_tasks(limit=0)


@pytest.mark.usefixtures("parked")
def test_twenty_four_threads_one_key_one_task_all_subscribed() -> None:
    @task(scope=TaskScope.SHARED)
    def report() -> None: ...

    barrier = threading.Barrier(24)
    results: list[str] = []
    errors: list[BaseException] = []

    def subscribe(user: str) -> None:
        try:
            with acting_as(user):
                barrier.wait(20)
                results.append(report.schedule(options=TaskOptions(task_key="hot")).uuid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=subscribe, args=(f"user-{i}",)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(results) == 24 and len(set(results)) == 1
    record = resumable.get_task(results[0])
    assert sorted(record.subscribers) == sorted(f"user-{i}" for i in range(24))
    assert len(resumable.list_tasks()) == 1


@pytest.mark.usefixtures("tasks_db")
def test_sync_call_joining_an_active_task_blocks_until_it_ends(gate: Any) -> None:
    runs: list[int] = []

    @task(scope=TaskScope.SHARED)
    def report() -> None:
        runs.append(1)
        gate.block()

    options = TaskOptions(task_key="join")
    with acting_as("alice"):
        first = report.schedule(options=options)
    gate.wait_entered()
    joined: list[Any] = []
    joiner = threading.Thread(
        target=lambda: joined.append(_as("bob", lambda: report(options=options)))
    )
    joiner.start()
    joiner.join(0.3)
    assert joiner.is_alive()  # blocked on the running task
    gate.release.set()
    joiner.join(20)
    assert joined[0].uuid == first.uuid and joined[0].status == "success"
    assert runs == [1]


def _as(user: str, call: Any) -> Any:
    with acting_as(user):
        return call()


_PROCESS_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    import resumable
    from resumable import TaskOptions, TaskScope, acting_as, task

    resumable.configure(database_url=sys.argv[1], executor="worker")

    @task(scope=TaskScope.SHARED, name="cross_process_report")
    def report() -> None: ...

    uuids = []
    def call(user):
        with acting_as(user):
            uuids.append(report.schedule(options=TaskOptions(task_key="hot")).uuid)
    threads = [threading.Thread(target=call, args=(f"{sys.argv[2]}-{i}",)) for i in range(5)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(" ".join(uuids))
    """
)


@pytest.mark.slow
def test_many_processes_one_key_one_task(configure_tasks: Any, tmp_path: Path) -> None:
    settings = configure_tasks(executor="worker")
    resumable.list_tasks()  # migrate once before the processes race
    script = tmp_path / "racer.py"
    script.write_text(_PROCESS_SCRIPT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), settings.database_url, f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    uuids: set[str] = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        uuids.update(out.split())
    assert len(uuids) == 1
    record = resumable.get_task(uuids.pop())
    assert len(record.subscribers) == 20


@pytest.mark.usefixtures("tasks_db")
def test_a_task_body_runs_as_its_creator() -> None:
    seen: list[Any] = []

    @task
    def whoami() -> None:
        from resumable.tasks import current_actor

        seen.append(current_actor().user_id)
        seen.append(get_context().user)

    with acting_as("alice"):
        whoami.schedule().wait(timeout=20)
    assert seen == ["alice", "alice"]


@pytest.mark.usefixtures("tasks_db")
def test_twenty_sync_callers_share_one_run(gate: Any) -> None:
    runs: list[int] = []

    @task(scope=TaskScope.SHARED, name="shared_sync_run")
    def build() -> None:
        runs.append(1)
        gate.block()

    options = TaskOptions(task_key="build-1")
    barrier = threading.Barrier(20)
    results: list[Any] = []

    def call(user: str) -> None:
        with acting_as(user):
            barrier.wait(20)
            results.append(build(options=options))

    threads = [threading.Thread(target=call, args=(f"dev-{i}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    gate.wait_entered()
    running = next(t for t in resumable.list_tasks() if t.name == "shared_sync_run")
    deadline = time.monotonic() + 30
    while len(running.refresh().subscribers) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(thread.is_alive() for thread in threads)  # everyone waits on the one run
    gate.release.set()
    for thread in threads:
        thread.join(60)
    assert runs == [1] and len(results) == 20
    assert {t.uuid for t in results} == {results[0].uuid}
    assert {t.status for t in results} == {"success"}
    assert len(resumable.get_task(results[0].uuid).subscribers) == 20
