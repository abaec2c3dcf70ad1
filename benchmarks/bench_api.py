"""REST API read speed with 10 000 tasks, next to the same reads through the library.

For each backend, 10 000 tasks are scheduled (executor ``worker``, so they stay
PENDING; 1 in 10 belongs to ``alice``, the rest to other users), then ``resumable api``
serves them from a separate process and this process measures, one request at a time:

- list: ``GET /api/v1/task/?limit=50`` (a page of the task page: the page of tasks,
  their subscribers and the count), as an admin (sees all 10 000) and as ``alice``
  (sees 1 000 through the visibility rules);
- detail: ``GET /api/v1/task/{uuid}`` of random tasks, as the admin.

Baselines, in this process and the same run: ``list_tasks(limit=50)`` +
``count_tasks()`` and ``get_task(uuid)`` inside ``acting_as`` of the same user. The
difference is what HTTP, authentication, FastAPI and JSON add.

Run: ``python benchmarks/bench_api.py [--tasks N] [--requests N] [--backends sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

import resumable
import resumable.api
from resumable import TaskOptions, acting_as, task
from resumable._config import reset
from resumable.tasks import _services, count_tasks, get_task, list_tasks

POSTGRES_URL = os.environ.get(
    "RESUMABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PAGE = 50


@task(name="bench_api.noop")
def noop(i: int) -> None:
    """Never runs here: the tasks stay PENDING for workers that do not exist."""


@contextmanager
def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    from resumable._db.engine import open_database

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    joiner = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{joiner}schema={schema}"
    finally:
        database = open_database(POSTGRES_URL)
        with database.auto.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        database.dispose()


def _reachable(backend: str) -> str | None:
    if backend != "postgres":
        return None
    try:
        from resumable._db.engine import open_database

        database = open_database(POSTGRES_URL)
        with database.auto.connect() as conn:
            conn.execute(text("SELECT 1"))
        database.dispose()
    except Exception as exc:  # any failure: report and skip this backend
        return str(exc).splitlines()[0]
    return None


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _measure(calls: dict[str, Callable[[int], object]], count: int) -> dict[str, dict[str, float]]:
    """Time each call ``count`` times, interleaved, so machine load hits all alike."""
    for call in calls.values():
        for i in range(min(20, count)):  # warm connections and caches
            call(i)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(count):
        for name, call in calls.items():
            begin = time.perf_counter()
            call(i)
            samples[name].append(time.perf_counter() - begin)
    return {
        name: {
            "rps": len(taken) / sum(taken),
            "p50": statistics.median(taken) * 1000,
            "p99": _percentile(taken, 0.99) * 1000,
        }
        for name, taken in samples.items()
    }


def _fill(tasks: int) -> list[str]:
    made = []
    for i in range(tasks):
        user = "alice" if i % 10 == 0 else f"user{i % 97}"
        with acting_as(user):
            made.append(noop.schedule(i, options=TaskOptions(task_name=f"bench {i}")).uuid)
    return made


@contextmanager
def _serve(url: str, workdir: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (workdir / "api.log").open("w")
    command = [sys.executable, "-c", "from resumable.cli import run; run()", "api"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--database-url", url],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError((workdir / "api.log").read_text())
        yield base
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def bench(backend: str, tasks: int, requests: int, workdir: Path) -> list[list[str]]:
    rows = []
    with _database(backend, workdir) as url:
        resumable.configure(database_url=url, executor="worker")
        began = time.perf_counter()
        uuids = _fill(tasks)
        print(f"{backend}: {tasks} tasks scheduled in {time.perf_counter() - began:.1f} s")
        tokens = {
            "admin": resumable.api.create_token("root", admin=True),
            "alice": resumable.api.create_token("alice"),
        }
        picks = [random.choice(uuids) for _ in range(requests)]
        with _serve(url, workdir) as base, httpx.Client(base_url=base, timeout=30) as client:
            for who, admin in (("admin", True), ("alice", False)):
                headers = {"Authorization": f"Bearer {tokens[who]}"}

                def http_list(_: int, headers: dict[str, str] = headers) -> object:
                    answer = client.get("/api/v1/task/", params={"limit": PAGE}, headers=headers)
                    assert answer.status_code == 200, answer.text
                    return answer.json()

                def library_list(_: int, who: str = who, admin: bool = admin) -> object:
                    user = "root" if who == "admin" else who
                    with acting_as(user, admin=admin):
                        return list_tasks(limit=PAGE), count_tasks()

                got = _measure({"HTTP": http_list, "library": library_list}, requests)
                for label, figures in got.items():
                    rows.append(_row(backend, f"list ({who})", label, figures))
            headers = {"Authorization": f"Bearer {tokens['admin']}"}

            def http_detail(i: int) -> object:
                answer = client.get(f"/api/v1/task/{picks[i]}", headers=headers)
                assert answer.status_code == 200, answer.text
                return answer.json()

            def library_detail(i: int) -> object:
                with acting_as("root", admin=True):
                    return get_task(picks[i])

            got = _measure({"HTTP": http_detail, "library": library_detail}, requests)
            for label, figures in got.items():
                rows.append(_row(backend, "detail (admin)", label, figures))
        _services.shutdown(wait=True)
        reset()
    return rows


def _row(backend: str, what: str, how: str, got: dict[str, float]) -> list[str]:
    return [backend, what, how, f"{got['rps']:.0f}", f"{got['p50']:.2f}", f"{got['p99']:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    console = Console()
    table = Table(title=f"REST API reads with {args.tasks} tasks (one client, sequential)")
    for column in ("backend", "read", "through", "req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if "ms" in column or "/" in column else "left")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as workdir:
        for backend in args.backends.split(","):
            why = _reachable(backend)
            if why:
                console.print(f"[yellow]{backend} skipped: {why}[/]")
                continue
            for row in bench(backend, args.tasks, args.requests, Path(workdir)):
                table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
