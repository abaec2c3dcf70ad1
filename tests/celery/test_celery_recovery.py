"""The Celery engine's guarantees under failure: dedup, duplicates, timeouts, hard
stops, lost workers, revoked messages, and a second broker."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

import resumable
from resumable import TaskOptions
from resumable.execution.celery import send
from tests.celery.harness import CeleryCluster, eventually

pytestmark = pytest.mark.slow

TASKS = """
@task(retries=3, keep_state=True)
def count(n, pause=0.1):
    ctx = get_context()
    start = ctx.store.get("done", 0)
    mine = ctx.task.attempt
    note(kind="start", attempt=mine, start=start, worker=os.environ.get("WORKER_NAME"))
    for i in range(start, n):
        time.sleep(pause)
        ctx.store.set("done", i + 1)
        note(kind="item", item=i, attempt=mine)


@task(timeout=1)
def patient():
    ctx = get_context()
    stop = []
    ctx.on_abort(lambda: stop.append(True))
    while not stop:
        time.sleep(0.05)
    note(kind="stopped")


@task(kill_after=1)
def stubborn():
    ctx = get_context()
    ctx.on_abort(lambda: note(kind="asked"))  # ... and carries on regardless
    note(kind="running")
    while True:
        time.sleep(0.05)


@task
def mark(label):
    note(kind="mark", label=label)
"""


def _items(c: CeleryCluster) -> list[int]:
    return [int(e["item"]) for e in c.events() if e["kind"] == "item"]


def _received(c: CeleryCluster, task_uuid: str) -> int:
    return c.logs().count(f"resumable.run_task[{task_uuid}] received")


def test_dedup_across_two_scheduling_processes(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    script = (
        f"import {c.module_name} as m, resumable\n"
        "t = m.count.schedule(3, 0.01, options=resumable.TaskOptions(task_key='nightly'))\n"
        "print(t.uuid)\n"
    )
    schedulers = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=c.env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    uuids = {p.communicate(timeout=60)[0].strip() for p in schedulers}
    assert all(p.returncode == 0 for p in schedulers)
    assert len(uuids) == 1  # both callers got the one task
    (task_uuid,) = uuids
    c.start_worker()
    assert resumable.get_task(task_uuid).wait(timeout=60).status == "success"
    assert _received(c, task_uuid) == 1  # the joined schedule sent nothing
    assert _items(c) == [0, 1, 2]


def test_timeout_ends_timed_out(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    c.start_worker()
    done = c.module.patient.schedule().wait(timeout=60)  # type: ignore[union-attr]
    assert done.status == "timed_out"
    assert [e["kind"] for e in c.events()] == ["stopped"]


def test_kill_after_terminates_the_pool_process(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    worker = c.start_worker()
    running = c.module.stubborn.schedule()  # type: ignore[union-attr]
    assert eventually(lambda: any(e["kind"] == "running" for e in c.events()))
    pid = next(e["pid"] for e in c.events() if e["kind"] == "running")
    assert running.cancel() == "aborted"
    done = running.wait(timeout=60)
    assert done.status == "aborted"
    assert done.error_message is not None and done.error_message.startswith("killed: ")
    assert eventually(lambda: not _alive(pid))
    # The worker replaced its pool process and goes on running tasks.
    assert c.module.mark.schedule("after").wait(timeout=60).status == "success"  # type: ignore[union-attr]
    assert worker.process.poll() is None


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_worker_killed_mid_task_resumes_on_another(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    first = c.start_worker()
    running = c.module.count.schedule(30, 0.1)  # type: ignore[union-attr]
    assert eventually(lambda: len(_items(c)) >= 5)
    first.kill()  # SIGKILL: the worker and its pool processes, mid-task
    second = c.start_worker()
    done = running.wait(timeout=90)
    assert done.status == "success", done.error_message
    assert done.attempt == 2
    items = _items(c)
    assert len(items) == len(set(items))  # no item done twice
    assert sorted(items)[-1] == 29
    starts = [e for e in c.events() if e["kind"] == "start"]
    assert len(starts) == 2 and starts[1]["start"] >= 5  # resumed from its checkpoint
    assert "sent a message for a pending task" in second.log()


def test_redelivered_message_does_not_start_a_second_run(
    cluster: Callable[..., CeleryCluster],
) -> None:
    c = cluster(TASKS)
    worker = c.start_worker(concurrency=2)
    running = c.module.count.schedule(20, 0.1)  # type: ignore[union-attr]
    assert eventually(lambda: len(_items(c)) >= 2)
    # The same message again, as a redelivery (lost connection, visibility timeout)
    # would bring it, while the first run is alive on the other pool process.
    send(c.module.app, running.uuid, message_id=running.uuid)  # type: ignore[union-attr]
    assert eventually(lambda: "dropped: the task is in_progress" in worker.log())
    done = running.wait(timeout=60)
    assert done.status == "success"
    assert _items(c) == list(range(20))
    assert len([e for e in c.events() if e["kind"] == "start"]) == 1


def test_pending_cancel_revokes_and_never_runs(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS)
    worker = c.start_worker(concurrency=1)
    blocker = c.module.count.schedule(20, 0.1)  # type: ignore[union-attr]
    assert eventually(lambda: len(_items(c)) >= 1)
    # The only pool process is busy: the victim's message waits in the queue.
    victim = c.module.mark.schedule("victim")  # type: ignore[union-attr]
    assert victim.cancel() == "aborted"
    assert resumable.get_task(victim.uuid).status == "aborted"
    assert blocker.wait(timeout=60).status == "success"
    assert eventually(
        lambda: f"Discarding revoked task: resumable.run_task[{victim.uuid}]" in worker.log()
    )
    # A later delivery (a worker that never heard of the revoke) is dropped too.
    send(c.module.app, victim.uuid)  # type: ignore[union-attr]
    assert eventually(lambda: "dropped: the task is aborted" in worker.log())
    assert not [e for e in c.events() if e["kind"] == "mark"]
    assert resumable.get_task(victim.uuid).status == "aborted"


def test_rabbitmq_broker(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS, broker="rabbitmq")
    c.start_worker()
    assert c.module.mark.schedule("rabbit").wait(timeout=60).status == "success"  # type: ignore[union-attr]
    running = c.module.patient.schedule(options=TaskOptions(timeout=60))  # type: ignore[union-attr]
    # Abortable once its body registered the abort handler (claimed is not enough).
    assert eventually(lambda: resumable.get_task(running.uuid).abortable)
    assert running.cancel() == "aborted"
    assert running.wait(timeout=60).status == "aborted"
    assert json.dumps([e["kind"] for e in c.events()]) == '["mark", "stopped"]'
