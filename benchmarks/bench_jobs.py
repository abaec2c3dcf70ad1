"""What ``execute_resumable`` costs on top of the job itself, per decision path.

A no-op job (its external calls return at once) runs every decision path through
``execute_resumable`` on each store backend. Next to it, in the same run, the baseline
calls the same job methods directly, with no store: the difference is resumable's
overhead. The store calls each path makes (round trips) are counted through a wrapper.

Targets (issue 3): <= 2 store round trips on the reconnect path, <= 3 on a fresh submit
before the job is polled (a fresh submit needs a 4th, after the poll, to cache success).

Run: ``python benchmarks/bench_jobs.py [--ops N] [--backends memory,sqlite,postgres,redis]``.
PostgreSQL and Redis come from RESUMABLE_TEST_POSTGRES_URL / RESUMABLE_TEST_REDIS_URL
(default: the local servers); a backend whose server does not answer is skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import resumable
from resumable.jobs import ResumableJobMixin, state_key

POSTGRES_URL = os.environ.get(
    "RESUMABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = "remote_job_id"
TOKEN = "00000000-0000-4000-8000-000000000000"
TARGETS = {"reconnect": 2, "fresh_submit (before poll)": 3}


class NoOpJob(ResumableJobMixin):
    """Every external call returns at once: what is left is resumable's own work."""

    def __init__(self, status: str = "RUNNING", found: Any = None) -> None:
        super().__init__()
        self.status = status
        self.found = found

    def submit_job(self, context: Any) -> Any:
        return "job-1"

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.status

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        return None

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"rows": 1}

    def find_job(self, token: str, context: Any) -> Any:
        return self.found


class Counting:
    """A store handle that counts calls: one call is one round trip on every backend."""

    def __init__(self, inner: resumable.TaskStateStore) -> None:
        self.inner = inner
        self.calls = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.calls += 1
        return self.inner.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.calls += 1
        self.inner.set(key, value)

    def update(self, values: Mapping[str, Any]) -> None:
        self.calls += 1
        self.inner.update(values)


SUBMITTED = {"v": 1, "token": TOKEN, "external_id": "job-1"}
INTENT = {"v": 1, "token": TOKEN}

# path -> (stored record or None, job, the job's methods a caller without resumable runs)
Path_ = tuple[dict[str, Any] | None, NoOpJob, Callable[[NoOpJob], object]]


def _direct_submit(job: NoOpJob) -> object:
    job_id = job.submit_job({})
    job.poll_until_complete(job_id, {})
    return job.get_job_result(job_id, {})


def _direct_status_poll(job: NoOpJob) -> object:
    job.get_job_status("job-1", {})
    job.poll_until_complete("job-1", {})
    return job.get_job_result("job-1", {})


PATHS: dict[str, Path_] = {
    "fresh_submit": (None, NoOpJob(), _direct_submit),
    "reconnect": (SUBMITTED, NoOpJob("RUNNING"), _direct_status_poll),
    "already_succeeded (cached)": (
        {**SUBMITTED, "succeeded": True},
        NoOpJob(),
        lambda job: job.get_job_result("job-1", {}),
    ),
    "already_succeeded (asked)": (
        SUBMITTED,
        NoOpJob("SUCCEEDED"),
        lambda job: (job.get_job_status("job-1", {}), job.get_job_result("job-1", {})),
    ),
    "terminal_resubmit": (
        SUBMITTED,
        NoOpJob("FAILED"),
        lambda job: (job.get_job_status("job-1", {}), _direct_submit(job)),
    ),
    "recover_by_token": (
        INTENT,
        NoOpJob(found="job-1"),
        lambda job: (job.find_job(TOKEN, {}), _direct_status_poll(job)),
    ),
    "resubmit_with_same_token": (
        INTENT,
        NoOpJob(found=None),
        lambda job: (job.find_job(TOKEN, {}), _direct_submit(job)),
    ),
}


def _reset(scope: resumable.TaskStateStore, stored: dict[str, Any] | None) -> None:
    scope.clear()
    if stored is not None:
        scope.set(state_key(KEY), stored)


def _trips_before_poll(scope: resumable.TaskStateStore) -> int:
    counting = Counting(scope)
    seen: list[int] = []

    class Probe(NoOpJob):
        def poll_until_complete(self, external_id: Any, context: Any) -> None:
            seen.append(counting.calls)

    _reset(scope, None)
    Probe().execute_resumable({"task_state_store": counting, "try_number": 1})
    return seen[0]


def bench_backend(url: str, ops: int) -> list[tuple[str, int, float, float]]:
    """Per path: (path, round trips, µs per run with resumable, µs per direct run)."""
    rows = []
    with resumable.open_store(url) as store:
        scope = store.scope("bench_jobs", uuid.uuid4().hex)
        for name, (stored, job, direct) in PATHS.items():
            counting = Counting(scope)
            _reset(scope, stored)
            job.execute_resumable({"task_state_store": counting, "try_number": 1})
            trips = counting.calls
            ours, raw = [], []
            for _ in range(ops):
                _reset(scope, stored)
                started = time.perf_counter()
                job.execute_resumable({"task_state_store": scope, "try_number": 1})
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                direct(job)
                raw.append(time.perf_counter() - started)
            rows.append((name, trips, statistics.median(ours) * 1e6, statistics.median(raw) * 1e6))
        rows.insert(1, ("fresh_submit (before poll)", _trips_before_poll(scope), 0.0, 0.0))
        scope.clear()
    return rows


def _url(backend: str, tmp: Path) -> str | None:
    if backend == "memory":
        return "memory://bench-jobs"
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'bench-jobs.db'}"
    if backend == "postgres":
        return f"{POSTGRES_URL}?schema=bench_jobs_{uuid.uuid4().hex[:8]}"
    if backend == "redis":
        return f"{REDIS_URL}?prefix=bench-jobs-{uuid.uuid4().hex[:8]}:"
    raise SystemExit(f"unknown backend {backend!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200, help="runs per path (default 200)")
    parser.add_argument("--backends", default="memory,sqlite,postgres,redis")
    args = parser.parse_args()
    # The decision log lines (one per run) would drown the tables.
    logging.getLogger("resumable.jobs").disabled = True
    console = Console(width=110)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url = _url(backend, Path(tmp))
            try:
                rows = bench_backend(str(url), args.ops)
            except resumable.StoreUnavailableError as exc:
                console.print(f"[yellow]{backend}: skipped ({exc})[/]")
                continue
            finally:
                if backend == "postgres" and url:
                    _drop_schema(url)
            table = Table(title=f"execute_resumable overhead on {backend} ({args.ops} runs/path)")
            for column in ("path", "store round trips", "target", "resumable µs", "direct µs"):
                table.add_column(column, justify="left" if column == "path" else "right")
            table.add_column("overhead µs", justify="right")
            for name, trips, ours, raw in rows:
                target = TARGETS.get(name)
                ok = target is None or trips <= target
                failed = failed or not ok
                timing = (
                    ("-", "-", "-")
                    if ours == 0
                    else (f"{ours:.0f}", f"{raw:.1f}", f"{ours - raw:.0f}")
                )
                table.add_row(
                    name,
                    f"{trips}" if ok else f"[red]{trips}[/]",
                    "-" if target is None else f"<= {target}",
                    *timing,
                )
            console.print(table)
    if failed:
        raise SystemExit("a round-trip target was missed")


def _drop_schema(url: str) -> None:
    import sqlalchemy

    schema = url.rsplit("schema=", 1)[1]
    engine = sqlalchemy.create_engine(
        url.split("?", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    )
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


if __name__ == "__main__":
    main()
