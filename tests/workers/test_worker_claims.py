"""Workers claim only what they can run: registered names, served queues; the registry
of live workers says what nobody runs; a worker says at start what is degraded."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from resumable import TaskOptions
from resumable.migrations.schema import tasks, workers
from resumable.tasks import _services
from tests.workers.harness import WorkerProcess, eventually, write_module

pytestmark = pytest.mark.slow

TASKS = """
from resumable import task

@task(name=__name__ + ".job", retries=2)
def job(n: int) -> int:
    return n
"""


def _module(tmp_path: Path) -> tuple[str, Any]:
    name = write_module(tmp_path, TASKS)
    return name, importlib.import_module(name)


def _cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "200",
    }
    env.pop("RESUMABLE_IMPORTS", None)
    env.pop("RESUMABLE_REDIS_URL", None)
    env["RESUMABLE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-c", "from resumable.cli import run; run()", *args],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _status(task: Any) -> tuple[str, int]:
    task.refresh()
    return task.status.value, task.attempt


def _set_queue(task_uuid: str, queue: str | None) -> None:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        conn.execute(update(tasks).where(tasks.c.uuid == task_uuid).values(queue=queue))


def _registered() -> dict[str, Any]:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        return {row.worker_id: row for row in conn.execute(select(workers))}


def test_worker_without_tasks_refuses_to_start_and_touches_nothing(
    schedule_to_workers: str, tmp_path: Path
) -> None:
    _, module = _module(tmp_path)
    pending = module.job.schedule(1)
    empty = write_module(tmp_path, "X = 1\n")
    for extra, expected in (
        ((), "--import MODULE"),
        (("--import", empty), "define no @task functions"),
        (("--import", "no_such_module_here"), "cannot import"),
    ):
        done = _cli(tmp_path, schedule_to_workers, "worker", *extra)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("Error: ") and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr + done.stdout
    assert _status(pending) == ("pending", 1)
    assert pending.error_message is None
    assert _registered() == {}


def test_worker_leaves_other_names_pending_for_a_worker_that_has_them(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name_a, module_a = _module(tmp_path)
    name_b, module_b = _module(tmp_path)
    stranded = module_b.job.schedule(2)
    # Listed with no worker at all: marked, and `show` says which name and queue.
    listed = _cli(tmp_path, schedule_to_workers, "tasks", "list")
    assert listed.returncode == 0 and "pending (no worker)" in listed.stdout, listed.stdout
    first = WorkerProcess(tmp_path, schedule_to_workers, name_a)
    workers.append(first)
    # At start it names what it sees pending but cannot run.
    assert "WARNING" in first.log() and f"{name_b}.job@default" in first.log()
    ran = module_a.job.schedule(1)
    ran.wait(timeout=30)
    assert ran.status == "success"
    time.sleep(1.0)  # ten poll intervals: time enough to have wrongly claimed it
    assert _status(stranded) == ("pending", 1)
    assert stranded.error_message is None and stranded.started_at is None

    (row,) = _registered().values()
    assert row.engine == "worker" and row.pid == first.process.pid
    assert json.loads(row.task_names) == [f"{name_a}.job"]
    assert json.loads(row.queues) == ["default"]
    listed = _cli(tmp_path, schedule_to_workers, "tasks", "list", "--json")
    marks = {
        line["uuid"]: line["no_worker"] for line in map(json.loads, listed.stdout.splitlines())
    }
    assert marks == {
        stranded.uuid: f"no live worker runs {name_b}.job on queue default",
        ran.uuid: None,
    }
    shown = _cli(tmp_path, schedule_to_workers, "tasks", "show", stranded.uuid)
    assert f"no live worker runs {name_b}.job on queue default" in shown.stdout, shown.stdout

    second = WorkerProcess(tmp_path, schedule_to_workers, name_b)
    workers.append(second)
    stranded.wait(timeout=30)
    assert stranded.status == "success" and stranded.attempt == 1
    assert len(_registered()) == 2
    assert first.stop() == 0  # a clean stop deletes its row
    assert [r.pid for r in _registered().values()] == [second.process.pid]


def test_queues_are_served_only_when_asked_for(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _module(tmp_path)
    default = module.job.schedule(1)
    named_default = module.job.schedule(1, options=TaskOptions(queue="default"))
    exports = module.job.schedule(2, options=TaskOptions(queue="exports"))
    reports = module.job.schedule(3)
    _set_queue(reports.uuid, "reports")

    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name))
    for on_default in (default, named_default):
        on_default.wait(timeout=30)
        assert on_default.status == "success"
    assert _status(exports) == ("pending", 1)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name, "--queue", "exports"))
    exports.wait(timeout=30)
    assert exports.status == "success"
    time.sleep(1.0)
    assert _status(reports) == ("pending", 1)
    listed = _cli(tmp_path, schedule_to_workers, "tasks", "show", reports.uuid)
    assert f"no live worker runs {name}.job on queue reports" in listed.stdout, listed.stdout

    both = WorkerProcess(
        tmp_path, schedule_to_workers, name, "--queue", "default,reports", "--queue", "x"
    )
    workers.append(both)
    reports.wait(timeout=30)
    assert reports.status == "success"
    queues = sorted(json.loads(r.queues) for r in _registered().values())
    assert queues == [["default"], ["default", "reports", "x"], ["exports"]]


def test_unreachable_redis_is_a_warning_at_start(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name, module = _module(tmp_path)
    worker = WorkerProcess(
        tmp_path, schedule_to_workers, name, redis_url=f"redis://127.0.0.1:{port}/0"
    )
    workers.append(worker)
    log = worker.log()
    assert "WARNING" in log and "Redis does not answer" in log, log
    assert "database polling" in log
    ran = module.job.schedule(1)
    ran.wait(timeout=30)
    assert ran.status == "success"  # degraded, not down


def test_stale_registry_rows_are_ignored_and_collected(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _module(tmp_path)
    pending = module.job.schedule(1)
    worker = WorkerProcess(tmp_path, schedule_to_workers, name, "--queue", "elsewhere")
    workers.append(worker)
    assert _cli(tmp_path, schedule_to_workers, "tasks", "list").stdout.count("no worker") == 1
    worker.kill()  # no clean shutdown: its row stays, and goes stale after the lease
    assert len(_registered()) == 1
    assert eventually(lambda: not _registered() or _registered_stale(), timeout=10)
    fresh = WorkerProcess(tmp_path, schedule_to_workers, name, lease=1.0, heartbeat=0.2)
    workers.append(fresh)
    pending.wait(timeout=30)
    assert eventually(lambda: [r.pid for r in _registered().values()] == [fresh.process.pid])


def _registered_stale() -> bool:
    from resumable.tasks._workers import WorkerRegistry

    return WorkerRegistry(_services.current().repository.database).live(lease=1.0) == []
