"""The worker's prefork pool: children run many attempts, die alone, and are recycled."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

import resumable
from tests.workers.harness import WorkerProcess, write_module

pytestmark = pytest.mark.slow

TASKS = """
import json, os
from pathlib import Path
from resumable import get_context, task
from resumable.tasks import current_actor

LOG = Path(__file__).with_suffix(".events")
LEFT_BY_EARLIER_ATTEMPTS = []

@task(scope="private")
def who(label: str) -> None:
    ctx = get_context()
    with LOG.open("a") as out:
        out.write(json.dumps({
            "label": label,
            "pid": os.getpid(),
            "task": ctx.task_uuid,
            "user": current_actor().user_id,
            "aborted": ctx.abort_requested.is_set(),
            "handlers": len(ctx.abort_handlers) + len(ctx.cleanup_handlers),
        }) + "\\n")
    ctx.on_cleanup(lambda: None)  # must not be seen by the next attempt

@task
def crash() -> None:
    os._exit(3)
"""


def _events(directory: Path, module: str) -> list[dict[str, Any]]:
    path = directory / f"{module}.events"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _module(tmp_path: Path) -> tuple[str, Any]:
    name = write_module(tmp_path, TASKS)
    return name, importlib.import_module(name)


def test_one_child_runs_many_attempts_and_nothing_leaks_between_them(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _module(tmp_path)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name, concurrency=1))
    tasks = []
    for user in ("alice", "bob", None, "alice"):
        if user is None:
            tasks.append(module.who.schedule("system"))
        else:
            with resumable.acting_as(user):
                tasks.append(module.who.schedule(user))
    for t in tasks:
        assert t.wait(timeout=60).status == "success"
    events = _events(tmp_path, name)
    assert len({e["pid"] for e in events}) == 1  # one child, reused
    assert workers[0].process.pid not in {e["pid"] for e in events}
    by_task = {e["task"]: e for e in events}
    for t in tasks:
        seen = by_task[t.uuid]
        # Each attempt acts as its own creator with a fresh context of its own.
        assert seen["user"] == (None if seen["label"] == "system" else seen["label"])
        assert seen["handlers"] == 0 and seen["aborted"] is False


def test_max_tasks_per_child_replaces_children(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _module(tmp_path)
    workers.append(
        WorkerProcess(
            tmp_path, schedule_to_workers, name, "--max-tasks-per-child", "2", concurrency=1
        )
    )
    tasks = [module.who.schedule(str(i)) for i in range(5)]
    for t in tasks:
        assert t.wait(timeout=60).status == "success"
    pids = [e["pid"] for e in _events(tmp_path, name)]
    assert len(set(pids)) >= 3
    assert all(pids.count(pid) <= 2 for pid in set(pids))


def test_max_memory_per_child_replaces_children(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _module(tmp_path)
    # 1 KiB: every child is over the limit after its first attempt.
    workers.append(
        WorkerProcess(
            tmp_path, schedule_to_workers, name, "--max-memory-per-child", "1", concurrency=1
        )
    )
    tasks = [module.who.schedule(str(i)) for i in range(3)]
    for t in tasks:
        assert t.wait(timeout=60).status == "success"
    assert len({e["pid"] for e in _events(tmp_path, name)}) == 3


def test_a_crashing_child_takes_only_its_attempt_and_is_replaced(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name, module = _module(tmp_path)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name, concurrency=1))
    before = module.who.schedule("before")
    assert before.wait(timeout=60).status == "success"
    crashed = module.crash.schedule()
    crashed.wait(timeout=60)
    assert crashed.status == "failure"
    assert crashed.exception_type == "WorkerLost"
    assert "exited with code 3" in (crashed.error_message or "")
    after = module.who.schedule("after")
    assert after.wait(timeout=60).status == "success"
    pids = {e["label"]: e["pid"] for e in _events(tmp_path, name)}
    assert pids["before"] != pids["after"]
    assert workers[0].process.poll() is None  # the worker itself lives on


def test_bad_recycling_options_are_refused(tmp_path: Path) -> None:
    from resumable._errors import ConfigurationError
    from resumable.execution.worker._daemon import WorkerOptions

    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigurationError):
            WorkerOptions(max_tasks_per_child=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            WorkerOptions(max_memory_per_child=bad)  # type: ignore[arg-type]
