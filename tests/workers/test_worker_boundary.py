"""The task/worker boundary through a real ``resumable worker``: results, retry_on and
backoff, and abortable tasks, all carried by the definition the worker imports."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

import resumable
from tests.workers.harness import WorkerProcess, eventually, write_module

pytestmark = pytest.mark.slow

TASKS = """
from resumable import get_context, task

@task
def answer(n: int) -> dict:
    return {"n": n, "squares": [i * i for i in range(n)], "none": None}

@task
def unstorable() -> object:
    return {1, 2}

@task(retries=3, retry_delay=0.05, retry_backoff=True, retry_on=(ConnectionError,))
def flaky() -> str:
    if get_context().attempt < 3:
        raise ConnectionResetError("peer reset")
    return "third time"

@task(retries=3, retry_on=(ConnectionError,))
def picky() -> None:
    raise KeyError("not retried")

@task(abortable=True)
def watcher() -> str:
    ctx = get_context()
    ctx.update_task(payload={"running": True})
    ctx.abort_requested.wait(60)
    return "stopped"
"""


def test_results_retry_rules_and_abortable_tasks_cross_processes(
    schedule_to_workers: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    name = write_module(tmp_path, TASKS)
    module: Any = importlib.import_module(name)
    workers.append(WorkerProcess(tmp_path, schedule_to_workers, name, concurrency=2))

    t = module.answer.schedule(4)
    assert t.wait(timeout=60).status == "success"
    assert t.result == {"n": 4, "squares": [0, 1, 4, 9], "none": None}
    assert resumable.get_task(t.uuid).result == t.result

    bad = module.unstorable.schedule().wait(timeout=60)
    assert bad.status == "failure" and "cannot be stored" in (bad.error_message or "")

    flaky = module.flaky.schedule().wait(timeout=60)
    assert (flaky.status, flaky.attempt, flaky.result) == ("success", 3, "third time")

    picky = module.picky.schedule().wait(timeout=60)
    assert (picky.status, picky.attempt, picky.exception_type) == ("failure", 1, "KeyError")

    watcher = module.watcher.schedule()
    assert eventually(lambda: watcher.refresh().payload == {"running": True})
    assert watcher.cancel() == resumable.CancelAction.ABORTED
    assert watcher.wait(timeout=60).status == "aborted"
