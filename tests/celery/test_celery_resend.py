"""Lost messages (issue 10): a PENDING celery row whose message never reaches a worker
(the scheduler died between its commit and its publish, the broker lost it, the queue
was purged) is sent again by a keeper once the grace ran out, and runs exactly once,
whichever of the original and the re-sent message comes first."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

import resumable
from resumable import TaskOptions
from resumable._db.types import utcnow
from resumable.execution.celery import _sql, send
from resumable.execution.celery._keeper import RESEND_AFTER, resend_after
from resumable.tasks import _services
from resumable.tasks._workers import DEFAULT_QUEUE
from tests.celery.harness import CeleryCluster, eventually

TASKS = """
@task
def mark(label):
    note(kind="mark", label=label)


@task
def block(seconds):
    note(kind="block")
    time.sleep(seconds)
"""

HEARTBEAT = 0.5  # the harness's heartbeat_interval (lease 2 s)
LOAD = 5.0  # slack for a loaded test machine (worker start-up, scheduling, polling)


def _marks(c: CeleryCluster, label: str) -> int:
    return len([e for e in c.events() if e["kind"] == "mark" and e["label"] == label])


def _schedule_and_die(c: CeleryCluster, *arguments: str, countdown: float = 0) -> str:
    """Schedule ``mark(...)`` in a process SIGKILLed between its commit and its
    publish (its broker publish kills it); return the task's uuid.

    With a ``task_key``: a task without one is published before its insert (nothing
    is committed when the publish kills the process), a keyed one after it."""
    key = f"die-{uuid.uuid4().hex[:8]}"
    script = (
        f"import os, signal, resumable, {c.module_name} as m\n"
        "def die(name, args=(), **options):\n"
        "    print(args[0], flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "m.app.send_task = die\n"
        f"m.mark.schedule({', '.join(map(repr, arguments))}, "
        f"options=resumable.TaskOptions(countdown={countdown!r} or None, task_key={key!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=c.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    task_uuid = done.stdout.strip()
    row = resumable.get_task(task_uuid)
    # Committed, named after its message, and no message is anywhere.
    assert row.status == "pending" and row.celery_task_id == task_uuid
    return task_uuid


def _resent(c: CeleryCluster, task_uuid: str) -> list[str]:
    """The ids of the messages keepers sent again for the task (from their logs)."""
    return [
        line.split(" message=")[1].split()[0]
        for line in c.logs().splitlines()
        if "sent again the message" in line and f"task_uuid={task_uuid} " in line
    ]


def _dropped(c: CeleryCluster, message_id: str) -> bool:
    return any(
        f"resumable.run_task[{message_id}] succeeded" in line and "dropped: the task is" in line
        for line in c.logs().splitlines()
    )


def _waited(task_uuid: str) -> float:
    """Seconds from the task's creation to its (last) start."""
    done = resumable.get_task(task_uuid)
    assert done.started_at is not None
    return (done.started_at - done.created_at).total_seconds()


# -- the selection and the compare-and-set, without workers -------------------------


def test_unclaimed_rows_wait_out_the_grace_and_the_countdown(
    cluster: Callable[..., CeleryCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = cluster(TASKS)
    sent: list[str] = []
    monkeypatch.setattr(
        c.module.app, "send_task", lambda name, args, **o: sent.append(o["task_id"])
    )  # the publish is skipped: the message is lost
    plain = c.module.mark.schedule("plain")  # type: ignore[union-attr]
    later = c.module.mark.schedule("later", options=TaskOptions(countdown=60))  # type: ignore[union-attr]
    assert sent == [plain.uuid, later.uuid]
    database = _services.current().repository.database
    names, queues, now = ["*never*", plain.name], [DEFAULT_QUEUE], utcnow()

    def found(seconds: float) -> list[str]:
        at = now + timedelta(seconds=seconds)
        return [row[0] for row in _sql.unclaimed(database, names, queues, 10, now=at)]

    assert found(0) == [] and found(9) == []
    assert found(11) == [plain.uuid]  # the countdown task is not due: nothing is missing
    assert found(69) == [plain.uuid]
    assert sorted(found(71)) == sorted([plain.uuid, later.uuid])
    assert _sql.unclaimed(database, ["other"], queues, 10, now=now + timedelta(days=1)) == []
    assert _sql.unclaimed(database, names, ["exports"], 10, now=now + timedelta(days=1)) == []

    # Two keepers saw the row: the compare-and-set on the old message id lets one of
    # them record its re-send, the other sends nothing.
    first, second = _sql.resend_id(plain.uuid, plain.uuid), _sql.resend_id(plain.uuid, plain.uuid)
    assert first.startswith(f"{plain.uuid}.r1.") and _sql.resends(first) == 1
    assert _sql.note_message(database, plain.uuid, 1, first, replacing=plain.uuid)
    assert not _sql.note_message(database, plain.uuid, 1, second, replacing=plain.uuid)
    assert resumable.get_task(plain.uuid).celery_task_id == first
    # Back-off: the next re-send of this attempt waits twice the grace.
    now = utcnow()
    assert plain.uuid not in found(15)
    assert plain.uuid in found(21)
    third = _sql.resend_id(plain.uuid, first)
    assert _sql.resends(third) == 2 and _sql.resends(_sql.resend_id(plain.uuid, third)) == 3


def test_racing_keepers_send_one_message(
    cluster: Callable[..., CeleryCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    from resumable.execution.celery import keep_once

    c = cluster(TASKS)
    app = c.module.app  # type: ignore[union-attr]
    sent: list[str] = []
    lock = threading.Lock()

    def publish(name: str, args: tuple[str], **options: str) -> None:
        with lock:
            sent.append(options["task_id"])

    monkeypatch.setattr(app, "send_task", publish)
    lost = [c.module.mark.schedule(f"lost-{i}") for i in range(5)]  # type: ignore[union-attr]
    monkeypatch.setitem(app.conf, RESEND_AFTER, 0.2)
    time.sleep(0.3)
    sent.clear()
    start = threading.Barrier(4)
    services = _services.current()

    def keeper() -> None:
        start.wait()
        keep_once(services)

    keepers = [threading.Thread(target=keeper) for _ in range(4)]
    for each in keepers:
        each.start()
    for each in keepers:
        each.join(60)
    # Each lost task got exactly one new message, and its row names that message.
    assert sorted(m.split(".")[0] for m in sent) == sorted(t.uuid for t in lost)
    for each in lost:
        (message_id,) = [m for m in sent if m.startswith(each.uuid)]
        assert resumable.get_task(each.uuid).celery_task_id == message_id
        assert _sql.resends(message_id) == 1


def test_a_keeper_waits_until_its_worker_has_been_up_for_a_grace(
    cluster: Callable[..., CeleryCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    from resumable.execution.celery import _keeper

    c = cluster(TASKS)
    app = c.module.app  # type: ignore[union-attr]
    sent: list[str] = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **o: sent.append(o["task_id"]))
    monkeypatch.setitem(app.conf, RESEND_AFTER, 0.5)
    lost = c.module.mark.schedule("lost")  # type: ignore[union-attr]
    time.sleep(0.6)
    sent.clear()
    services = _services.current()
    # A worker that just started (after a deploy): its queue may still hold the
    # messages, so nothing is taken for lost yet.
    monkeypatch.setattr(_keeper, "_worker_started_at", None)
    _keeper.keep_once(services, _keeper.Keeper())
    assert sent == []
    # A pool process replaced a moment ago (max_tasks_per_child) in a worker that has
    # been up for longer: the worker's age counts.
    monkeypatch.setattr(_keeper, "_worker_started_at", utcnow() - timedelta(seconds=1))
    young = _keeper.Keeper()
    assert young.started_at > young.watching_since
    _keeper.keep_once(services, young)
    assert [m.split(".")[0] for m in sent] == [lost.uuid]


def test_the_grace_is_configurable(cluster: Callable[..., CeleryCluster]) -> None:
    app = cluster(TASKS).module.app  # type: ignore[union-attr]
    assert resend_after(app, lease=30) == 90  # three leases
    app.conf[RESEND_AFTER] = 12.5
    assert resend_after(app, lease=30) == 12.5
    app.conf[RESEND_AFTER] = "soon"  # a warning, and the default
    assert resend_after(app, lease=30) == 90


# -- real workers ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_scheduler_killed_before_publish_runs_once_after_the_grace(
    cluster: Callable[..., CeleryCluster], broker: str
) -> None:
    c = cluster(TASKS, broker=broker)  # the default grace: three leases of 2 s
    grace = 6.0
    c.start_worker()
    task_uuid = _schedule_and_die(c, "lost")
    done = resumable.get_task(task_uuid).wait(timeout=60)
    assert done.status == "success"
    assert grace - 0.1 <= _waited(task_uuid) <= grace + HEARTBEAT + LOAD
    assert _marks(c, "lost") == 1
    assert done.celery_task_id is not None and done.celery_task_id.startswith(f"{task_uuid}.r1.")
    assert _resent(c, task_uuid) == [done.celery_task_id]
    # The original message turns up after all (a broker that had only delayed it):
    # the claim drops it, nothing runs twice.
    send(c.module.app, task_uuid, message_id=task_uuid)  # type: ignore[union-attr]
    assert eventually(lambda: _dropped(c, task_uuid))
    assert _marks(c, "lost") == 1


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_purged_queue_is_sent_again(cluster: Callable[..., CeleryCluster], broker: str) -> None:
    c = cluster(TASKS + "\napp.conf.resumable_resend_after = 2\n", broker=broker)
    scheduled = c.module.mark.schedule("purged")  # type: ignore[union-attr]
    assert c.module.app.control.purge() == 1  # type: ignore[union-attr]
    before_ready = time.time()
    c.start_worker()
    ready = time.time()
    done = scheduled.wait(timeout=60)
    assert done.status == "success"
    assert _waited(scheduled.uuid) >= 2 - 0.1
    assert done.started_at is not None
    started = done.started_at.timestamp()
    created = done.created_at.timestamp()
    # A keeper that just started waits a grace before it takes anything for lost.
    assert started >= before_ready + 2 - 0.1
    assert started <= max(created, ready) + 2 + HEARTBEAT + LOAD
    assert _marks(c, "purged") == 1


@pytest.mark.slow
def test_workers_starting_late_consume_the_queue_before_sending_again(
    cluster: Callable[..., CeleryCluster],
) -> None:
    c = cluster(TASKS + "\napp.conf.resumable_resend_after = 2\n")
    queued = [c.module.mark.schedule(f"queued-{i}") for i in range(3)]  # type: ignore[union-attr]
    time.sleep(2.5)  # no worker yet (a deploy): every message waits longer than the grace
    c.start_worker()
    for each in queued:
        done = each.wait(timeout=60)
        assert done.status == "success" and done.celery_task_id == each.uuid
    time.sleep(3)  # past the new keeper's grace: nothing is pending, nothing is sent
    assert not [line for line in c.logs().splitlines() if "sent again" in line]
    assert [_marks(c, f"queued-{i}") for i in range(3)] == [1, 1, 1]


@pytest.mark.slow
def test_original_behind_a_backlog_runs_once_and_the_resend_is_dropped(
    cluster: Callable[..., CeleryCluster],
) -> None:
    c = cluster(TASKS + "\napp.conf.resumable_resend_after = 1\n")
    c.start_worker(concurrency=1)  # prefetch 1: the next message waits in Redis
    blocker = c.module.block.schedule(5)  # type: ignore[union-attr]
    assert eventually(lambda: any(e["kind"] == "block" for e in c.events()))
    waiting = c.module.mark.schedule("waiting")  # type: ignore[union-attr]
    # Not lost, only queued behind the blocker: once the grace is out, a keeper (a
    # thread of the busy pool process) sends a second message anyway.
    assert eventually(lambda: bool(_resent(c, waiting.uuid)), 30)
    assert blocker.wait(timeout=60).status == "success"
    done = waiting.wait(timeout=60)
    assert done.status == "success"
    assert done.celery_task_id == waiting.uuid  # the original came first and ran
    # ... and every re-sent message was acknowledged and dropped by the claim.
    resent = _resent(c, waiting.uuid)
    assert resent and all(_sql.resends(m) >= 1 for m in resent)
    assert eventually(lambda: all(_dropped(c, m) for m in resent))
    assert _marks(c, "waiting") == 1


@pytest.mark.slow
def test_countdown_task_is_not_sent_again_early(cluster: Callable[..., CeleryCluster]) -> None:
    c = cluster(TASKS + "\napp.conf.resumable_resend_after = 1\n")
    c.start_worker()
    later = c.module.mark.schedule("later", options=TaskOptions(countdown=4))  # type: ignore[union-attr]
    done = later.wait(timeout=60)
    assert done.status == "success"
    assert _waited(later.uuid) >= 4 - 0.1
    assert done.celery_task_id == later.uuid  # its own message ran it
    assert _resent(c, later.uuid) == []  # and no keeper sent another
    # Lost as well: sent again a grace after it was due, not a grace after scheduling.
    lost = _schedule_and_die(c, "lost-later", countdown=4)
    assert resumable.get_task(lost).wait(timeout=60).status == "success"
    assert 4 + 1 - 0.1 <= _waited(lost) <= 4 + 1 + HEARTBEAT + LOAD
    assert len(_resent(c, lost)) == 1
    assert _marks(c, "lost-later") == 1
