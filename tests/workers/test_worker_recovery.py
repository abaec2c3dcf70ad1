"""Workers as real processes: crash recovery, self-fencing, refusal, draining, hard stops."""

from __future__ import annotations

import importlib
import json
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

import resumable
from resumable import TaskOptions
from tests.workers.harness import WorkerProcess, eventually, write_module

pytestmark = pytest.mark.slow

COUNTER = """
import json, os, time
from datetime import timedelta
from pathlib import Path
from resumable import get_context, task

LOG = Path(__file__).with_suffix(".events")

def note(**event):
    with LOG.open("a") as out:
        out.write(json.dumps({**event, "pid": os.getpid(), "t": time.time()}) + "\\n")

@task(retries=3, keep_state=True)
def count(n: int, pause: float) -> None:
    ctx = get_context()
    start = ctx.store.get("done", 0)
    mine = ctx.task.attempt  # the task record moves on; this attempt's number does not
    note(kind="start", attempt=mine, start=start)
    for i in range(start, n):
        time.sleep(pause)
        try:
            ctx.store.set("done", i + 1)
            ctx.store.set("writer", mine)
        except Exception as exc:
            note(kind="refused", attempt=mine, error=type(exc).__name__, at=i)
            return
        note(kind="item", attempt=mine, item=i)
"""


def _events(directory: Path, module: str) -> list[dict[str, object]]:
    path = directory / f"{module}.events"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _items_done(directory: Path, module: str) -> int:
    return sum(1 for e in _events(directory, module) if e["kind"] == "item")


def _task_module(tmp_path: Path, source: str = COUNTER) -> tuple[str, object]:
    name = write_module(tmp_path, source)
    return name, importlib.import_module(name)


def test_scheduled_task_runs_in_a_child_process(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name))
    task = module.count.schedule(3, 0.01)  # type: ignore[attr-defined]
    assert task.status == "pending"
    task.wait(timeout=30)
    assert task.status == "success"
    assert task.progress is not None
    events = _events(tmp_path, name)
    assert [e["item"] for e in events if e["kind"] == "item"] == [0, 1, 2]
    assert events[0]["pid"] not in (workers[0].process.pid,)  # a child, not the worker


def test_sigkilled_worker_task_retried_elsewhere_from_checkpoint(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path)
    first = WorkerProcess(tmp_path, schedule_to_workers, name, lease=2.0, heartbeat=0.5)
    workers.append(first)
    task = module.count.schedule(40, 0.05, options=TaskOptions(task_key="k"))  # type: ignore[attr-defined]
    assert eventually(lambda: _items_done(tmp_path, name) >= 5)
    first.signal_group(signal.SIGKILL)
    killed_at = time.time()
    first.process.wait(10)
    second = WorkerProcess(tmp_path, schedule_to_workers, name, lease=2.0, heartbeat=0.5)
    workers.append(second)
    task.wait(timeout=60)
    assert task.status == "success"
    assert task.attempt == 2
    events = _events(tmp_path, name)
    restart = next(e for e in events if e["kind"] == "start" and e["attempt"] == 2)
    items_before = [e["item"] for e in events if e["kind"] == "item" and e["attempt"] == 1]
    # Resumed from its checkpoint, not from zero, and every item done exactly once.
    assert restart["start"] == max(items_before) + 1
    items = sorted(e["item"] for e in events if e["kind"] == "item")
    assert items == list(range(40))
    # Retried within lease + margin of the kill (the generous margin absorbs a loaded
    # machine: the figure itself is measured by benchmarks/bench_workers.py).
    assert float(restart["t"]) - killed_at < 2.0 + 20.0  # type: ignore[arg-type]
    assert "worker lost" in second.log()


def test_paused_worker_cannot_write_after_losing_its_lease(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path)
    paused = WorkerProcess(tmp_path, schedule_to_workers, name, lease=2.0, heartbeat=0.5)
    workers.append(paused)
    task = module.count.schedule(30, 0.1, options=TaskOptions(task_key="p"))  # type: ignore[attr-defined]
    assert eventually(lambda: _items_done(tmp_path, name) >= 3)
    paused.signal_group(signal.SIGSTOP)
    other = WorkerProcess(tmp_path, schedule_to_workers, name, lease=2.0, heartbeat=0.5)
    workers.append(other)
    task.wait(timeout=60)
    assert task.status == "success"
    assert task.attempt == 2
    paused.signal_group(signal.SIGCONT)  # the zombie wakes up and tries to go on
    assert eventually(
        lambda: any(e["kind"] == "refused" and e["attempt"] == 1 for e in _events(tmp_path, name)),
        timeout=30,
    )
    refused = next(e for e in _events(tmp_path, name) if e["kind"] == "refused")
    assert refused["error"] == "StaleAttemptError"
    # The new attempt's state is intact: the zombie changed nothing.
    with resumable.open_store(schedule_to_workers) as store:
        kept = [
            {"done": store.scope(ns, key).get("done"), "writer": store.scope(ns, key).get("writer")}
            for ns, key in _state_scopes(schedule_to_workers)
        ]
    assert {"done": 30, "writer": 2} in kept, kept


def _state_scopes(url: str) -> list[tuple[str, str]]:
    import sqlalchemy

    from resumable._db.engine import open_database
    from resumable.migrations.schema import state

    database = open_database(url)
    with database.auto.connect() as conn:
        rows = conn.execute(
            sqlalchemy.select(state.c.namespace, state.c.scope_key).distinct()
        ).all()
    database.dispose()
    return [(row[0], row[1]) for row in rows]


def test_unregistered_task_name_stays_pending(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    known, known_module = _task_module(tmp_path)
    _, unknown_module = _task_module(
        tmp_path,
        """
from resumable import task

@task(name=__name__ + ".never_imported_by_the_worker")
def lonely() -> None:
    pass
""",
    )
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, known))
    task = unknown_module.lonely.schedule()  # type: ignore[attr-defined]
    ran = known_module.count.schedule(1, 0.0)  # type: ignore[attr-defined]
    ran.wait(timeout=30)
    time.sleep(0.5)  # five poll intervals: it would have been claimed by now
    task.refresh()
    assert task.status == "pending" and task.attempt == 1 and task.error_message is None


def test_sigterm_lets_running_tasks_finish(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path)
    worker = WorkerProcess(tmp_path, schedule_to_workers, name, "--grace", "30")
    workers.append(worker)
    task = module.count.schedule(10, 0.1)  # type: ignore[attr-defined]
    assert eventually(lambda: any(e["kind"] == "item" for e in _events(tmp_path, name)))
    assert worker.stop() == 0
    task.refresh()
    assert task.status == "success"
    assert "worker draining" in worker.log()


ABORTABLE = """
import time
from resumable import get_context, task

@task(kill_after=1.0)
def stubborn() -> None:
    ctx = get_context()

    @ctx.on_abort
    def ignore() -> None:
        pass  # acknowledges the abort, then the body goes on regardless

    while True:
        time.sleep(0.05)

@task
def polite() -> None:
    ctx = get_context()

    @ctx.on_abort
    def stop() -> None:
        pass

    while not ctx.abort_requested.is_set():
        time.sleep(0.02)
"""


def test_sigterm_after_grace_aborts_what_still_runs(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path, ABORTABLE)
    worker = WorkerProcess(tmp_path, schedule_to_workers, name, "--grace", "0.5")
    workers.append(worker)
    task = module.polite.schedule()  # type: ignore[attr-defined]
    assert eventually(lambda: task.refresh().status == "in_progress")  # type: ignore[func-returns-value]
    assert worker.stop() == 0
    task.refresh()
    assert task.status == "aborted"


def test_task_ignoring_an_abort_is_killed_after_kill_after(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path, ABORTABLE)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name))
    task = module.stubborn.schedule()  # type: ignore[attr-defined]
    assert eventually(lambda: _abortable(task))
    assert task.cancel() == "aborted"
    task.wait(timeout=30)
    assert task.status == "aborted"
    assert "killed" in (task.error_message or "")
    assert "task killed" in workers[0].log()


def _abortable(task: resumable.Task) -> bool:
    from resumable.tasks import _services

    task.refresh()
    record = _services.current().repository.get(task.uuid)
    return task.status == "in_progress" and record is not None and record.abortable


def test_sigkill_of_the_worker_alone_takes_its_children_down(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    # The OOM killer or `kill -9 PID` hits only the worker, not its process group: the
    # child running the task must die with it, or it would keep the lease alive forever.
    name, module = _task_module(tmp_path)
    first = WorkerProcess(tmp_path, schedule_to_workers, name, lease=2.0, heartbeat=0.5)
    workers.append(first)
    task = module.count.schedule(40, 0.05, options=TaskOptions(task_key="alone"))  # type: ignore[attr-defined]
    assert eventually(lambda: _items_done(tmp_path, name) >= 5)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(10)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name, lease=2.0, heartbeat=0.5))
    task.wait(timeout=60)
    assert task.status == "success"
    assert task.attempt == 2
    events = _events(tmp_path, name)
    restart = next(e for e in events if e["kind"] == "start" and e["attempt"] == 2)
    late = [e for e in events if e["attempt"] == 1 and float(e["t"]) > float(restart["t"])]  # type: ignore[arg-type]
    assert not late, "attempt 1's process outlived its worker"


def test_worker_prunes_old_tasks_and_expired_state_on_a_schedule(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _task_module(tmp_path)
    task = module.count.schedule(1, 0.0)  # type: ignore[attr-defined]
    with resumable.open_store(schedule_to_workers) as store:
        store.scope("ns", "run").set("short", 1, retention=timedelta(milliseconds=1))
    worker = WorkerProcess(
        tmp_path, schedule_to_workers, name, "--prune-every", "0.3", "--retention-period-days", "0"
    )
    workers.append(worker)
    # It ran (pruning may delete its row the moment it ends, so ask its own log)...
    assert eventually(lambda: any(e["kind"] == "item" for e in _events(tmp_path, name)))

    def pruned() -> bool:
        try:
            resumable.get_task(task.uuid)
        except resumable.TaskNotFoundError:
            return True
        return False

    assert eventually(pruned)
    assert eventually(
        lambda: "expired_state_keys=1" in worker.log() or "expired_state_keys=2" in worker.log()
    )
