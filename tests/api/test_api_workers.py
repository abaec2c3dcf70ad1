"""The API over tasks that real ``resumable worker`` processes run, on SQLite and
PostgreSQL: progress read while they run, cancel through HTTP reaching the worker."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from resumable import acting_as
from tests.api.conftest import Tokens
from tests.workers.harness import WorkerProcess, eventually, write_module

pytestmark = pytest.mark.slow

TASKS = """
import time
from resumable import get_context, task

@task
def crawl(pages: int) -> None:
    ctx = get_context()
    ctx.on_abort(lambda: None)
    for page in range(pages):
        if ctx.abort_requested.is_set():
            return
        ctx.update_task(progress=(page + 1, pages), payload={"page": page})
        time.sleep(0.05)

@task
def stubborn(seconds: float) -> None:
    get_context().update_task(progress=0.5)
    time.sleep(seconds)
"""


@pytest.fixture
def worker_module(
    tmp_path: Path,
    tasks_db: object,
    configure_api: object,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[object]:
    # After tasks_db: this test's tasks must go to the worker, not to a thread here.
    monkeypatch.syspath_prepend(str(tmp_path))
    name = write_module(tmp_path, TASKS)
    module = importlib.import_module(name)
    configure_api(executor="worker", progress_throttle=0)  # type: ignore[operator]
    worker = WorkerProcess(
        tmp_path, database_url, name, "--abort-poll-interval", "0.2", lease=10.0, heartbeat=1.0
    )
    try:
        yield module
    finally:
        worker.close()


def test_watch_and_cancel_a_task_running_on_a_worker(
    worker_module: object, client: httpx.Client, tokens: Tokens
) -> None:
    with acting_as("alice"):
        t = worker_module.crawl.schedule(100_000)  # type: ignore[attr-defined]
    path = f"/api/v1/task/{t.uuid}"
    alice = tokens.headers("alice")

    def current() -> float:
        body = client.get(path, headers=alice).json()
        return float(body["progress"]["current"] or 0) if body["status"] == "in_progress" else 0

    assert eventually(lambda: current() >= 2), client.get(path, headers=alice).text
    first = current()
    assert eventually(lambda: current() > first), "progress did not move"
    body = client.get(path, headers=alice).json()
    assert body["progress"]["eta_seconds"] is not None and body["cancellable"] is True
    assert client.get(path, headers=tokens.headers("bob")).status_code == 404
    response = client.post(f"{path}/cancel", headers=alice)
    assert response.json() == {"action": "aborted"}
    assert eventually(
        lambda: client.get(f"{path}/status", headers=alice).json()["status"] == "aborted"
    )
    listed = client.get("/api/v1/task/", params={"status": "aborted"}, headers=alice).json()
    assert [task["uuid"] for task in listed["result"]] == [t.uuid]


def test_a_worker_task_without_abort_handler_is_409(
    worker_module: object, client: httpx.Client, tokens: Tokens
) -> None:
    with acting_as("alice"):
        t = worker_module.stubborn.schedule(3.0)  # type: ignore[attr-defined]
    path = f"/api/v1/task/{t.uuid}"
    alice = tokens.headers("alice")
    assert eventually(lambda: client.get(path, headers=alice).json()["status"] == "in_progress")
    body = client.get(path, headers=alice).json()
    assert body["cancellable"] is False and "abort handler" in body["cancel_blocked_reason"]
    response = client.post(f"{path}/cancel", json={"force": False}, headers=alice)
    assert response.status_code == 409 and "abort handler" in response.json()["detail"]
    assert eventually(
        lambda: client.get(f"{path}/status", headers=alice).json()["status"] == "success"
    )
