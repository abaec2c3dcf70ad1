"""Dedup across processes, and aborts reaching worker processes through every transport."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import resumable
from resumable import _config
from resumable.tasks import _services
from tests.conftest import make_url, require_server
from tests.coordination.test_channels import PrivateRedis
from tests.workers.harness import WorkerProcess, eventually, write_module

pytestmark = pytest.mark.slow

TASKS = """
import time
from resumable import TaskScope, get_context, task

@task(scope=TaskScope.SHARED)
def shared() -> None:
    pass

@task
def polite() -> None:
    ctx = get_context()

    @ctx.on_abort
    def stop() -> None:
        ctx.store.set("aborted_at", time.time())

    while not ctx.abort_requested.is_set():
        time.sleep(0.02)
"""

SCHEDULER = """
import json, sys
import resumable
from resumable import TaskOptions, acting_as
module = __import__(sys.argv[1])
resumable.configure(database_url=sys.argv[2], executor="worker")
uuids = []
with acting_as(sys.argv[3]):
    for _ in range(25):
        uuids.append(module.shared.schedule(options=TaskOptions(task_key="one")).uuid)
print(json.dumps(uuids))
"""


def test_eight_processes_scheduling_one_key_make_one_task(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = write_module(tmp_path, TASKS)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(SCHEDULER), name, database_url, f"user-{i}"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(8)
    ]  # fmt: skip
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    uuids = {task_uuid for out, _ in results for task_uuid in json.loads(out)}
    assert len(uuids) == 1
    monkeypatch.syspath_prepend(str(tmp_path))
    resumable.configure(database_url=database_url)
    try:
        task = resumable.get_task(uuids.pop())
        assert sorted(task.subscribers) == sorted(f"user-{i}" for i in range(8))
        assert len(resumable.list_tasks()) == 1
    finally:
        _services.shutdown(wait=True)
        _config.reset()


def _abort_through(
    tmp_path: Path,
    database_url: str,
    redis_url: str | None,
    poll: float,
    workers: list[WorkerProcess],
) -> None:
    name = write_module(tmp_path, TASKS)
    module = importlib.import_module(name)
    workers.append(
        WorkerProcess(
            tmp_path, database_url, name, "--abort-poll-interval", str(poll), redis_url=redis_url
        )
    )
    resumable.configure(
        database_url=database_url, redis_url=redis_url, executor="worker", abort_poll_interval=poll
    )
    try:
        task = module.polite.schedule()
        assert eventually(lambda: _abortable(task.uuid))
        assert task.cancel() == "aborted"
        # With a polling interval of minutes, finishing within the deadline means the
        # abort was pushed; polling alone could not have delivered it in time.
        task.wait(timeout=20)
        assert task.status == "aborted"
    finally:
        _services.shutdown(wait=True)
        _config.reset()


def _abortable(task_uuid: str) -> bool:
    record = _services.current().repository.get(task_uuid)
    return record is not None and record.status == "in_progress" and record.abortable


@pytest.mark.parametrize("transport", ["redis", "postgres-notify"])
def test_abort_is_pushed_to_the_worker(
    transport: str, tmp_path: Path, workers: list[WorkerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    if transport == "postgres-notify":
        pytest.importorskip("psycopg", reason="LISTEN/NOTIFY needs psycopg 3")
    monkeypatch.syspath_prepend(str(tmp_path))
    database_url, drop_database = make_url("postgres", tmp_path)
    redis_url, drop_redis = make_url("redis", tmp_path) if transport == "redis" else (None, None)
    try:
        _abort_through(tmp_path, database_url, redis_url, 300.0, workers)
        assert "PushSignals" in workers[0].log()
    finally:
        for worker in workers:
            worker.close()
        drop_database()  # type: ignore[operator]
        if drop_redis:
            drop_redis()  # type: ignore[operator]


def test_abort_reaches_the_worker_by_polling_sqlite(
    tmp_path: Path, workers: list[WorkerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    database_url, _ = make_url("sqlite", tmp_path)
    _abort_through(tmp_path, database_url, None, 0.2, workers)
    assert "DatabasePolling" in workers[0].log()


def test_redis_outage_falls_back_to_polling_and_push_resumes(
    tmp_path: Path, workers: list[WorkerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_server("postgres")
    monkeypatch.syspath_prepend(str(tmp_path))
    database_url, drop_database = make_url("postgres", tmp_path)
    server = PrivateRedis(tmp_path)
    server.start()
    name = write_module(tmp_path, TASKS)
    module = importlib.import_module(name)
    try:
        workers.append(
            WorkerProcess(tmp_path, database_url, name, "--abort-poll-interval", "0.5",
                          redis_url=server.url)
        )  # fmt: skip
        resumable.configure(
            database_url=database_url, redis_url=server.url, executor="worker",
            abort_poll_interval=0.5,
        )  # fmt: skip
        signals = _services.current().signals
        signals.listen()  # type: ignore[attr-defined]
        assert eventually(lambda: signals.channel.connected)  # type: ignore[attr-defined]

        server.kill()
        first = module.polite.schedule()
        assert eventually(lambda: _abortable(first.uuid))
        assert first.cancel() == "aborted"  # publishing fails; the worker polls instead
        first.wait(timeout=20)
        assert first.status == "aborted"

        server.start()
        assert eventually(lambda: signals.channel.connected)  # type: ignore[attr-defined]
        second = module.polite.schedule()
        assert eventually(lambda: _abortable(second.uuid))
        assert second.cancel() == "aborted"
        second.wait(timeout=20)
        assert second.status == "aborted"
    finally:
        _services.shutdown(wait=True)
        _config.reset()
        for worker in workers:
            worker.close()
        server.kill()
        drop_database()  # type: ignore[operator]
