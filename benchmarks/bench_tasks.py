"""Task framework overhead, progress throttling and cancel latency.

Three measurements, each next to a baseline measured in the same run:

1. No-op task overhead: a direct (sync) call of a ``@task`` that does nothing, against
   calling the bare function. Every call creates the row, claims it, runs the body,
   makes the final compare-and-set and reads the finished task back. Target: overhead
   ≤ 2 ms p50 on SQLite.
2. 100 000 ``ctx.update_task`` calls in a tight loop inside one task, against the same
   loop without the calls; the database writes of progress are counted with a
   SQLAlchemy statement hook. Target: ≤ 1 s added and ≤ 1 write per throttle window
   (plus the final flush).
3. Cancel-to-handler latency with the thread executor and database polling: from the
   moment a cancel is committed to the moment the task's abort handler runs, once for a
   cancel made in this process (local wake-up) and once for a cancel written by another
   connection, as another process would (only polling can see it). Target: ≤ poll
   interval + 50 ms.

4. Round trips per path (direct call, direct call with a key, ``.schedule()`` + run on
   the thread executor, run on the worker, wait on an ended task, cancel of a pending
   task), counted at the driver (``resumable._db.roundtrips``), not estimated.
5. The no-op direct call p50 next to the raw driver (``sqlite3`` / ``psycopg``, a kept
   connection, autocommit) sending the same statements the call sends: the same SQL on
   the same table (INSERT, then UPDATE … RETURNING, which on PostgreSQL carries the
   NOTIFY: ``WITH moved AS (UPDATE …) SELECT …, pg_notify(…)``). Target: at most 1.5
   times.

Run: ``python benchmarks/bench_tasks.py [--calls N] [--backends sqlite,postgres]``.
PostgreSQL comes from RESUMABLE_TEST_POSTGRES_URL (default: the local server); when it
does not answer it is reported and skipped.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import event, text, update

import resumable
from resumable import TaskOptions, get_context, task
from resumable._config import reset
from resumable._db.roundtrips import count_round_trips
from resumable.tasks import _services

POSTGRES_URL = os.environ.get(
    "RESUMABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
OVERHEAD_TARGET_MS = 2.0
UPDATES = 100_000


@contextmanager
def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    joiner = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{joiner}schema={schema}"
    finally:
        from resumable._db.engine import open_database

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


# -- 1. no-op overhead ----------------------------------------------------------------


def bench_overhead(url: str, calls: int) -> dict[str, float]:
    resumable.configure(database_url=url, executor="inline")

    def bare() -> None:
        return None

    noop = task(name="bench_noop")(bare)
    noop()  # migrations, connection pool, statement cache
    ours: list[float] = []
    raw: list[float] = []
    # Alternate in rounds so machine noise hits both alike.
    for _ in range(calls):
        start = time.perf_counter()
        bare()
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()
        t = noop()
        ours.append(time.perf_counter() - start)
        assert t.status == "success"
    return {
        "ours_p50": statistics.median(ours) * 1000,
        "ours_p90": _percentile(ours, 0.9) * 1000,
        "raw_p50": statistics.median(raw) * 1000,
    }


# -- 2. throttled progress ------------------------------------------------------------


def bench_updates(url: str, throttle: float) -> dict[str, float]:
    resumable.configure(database_url=url, executor="inline", progress_throttle=throttle)
    database = _services.current().repository.database
    writes = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "progress_current" in statement:
            writes[0] += 1

    engine = database.auto.engine
    event.listen(engine, "before_cursor_execute", count)
    timings: dict[str, float] = {}

    @task(name="bench_updates")
    def hot() -> None:
        ctx = get_context()
        start = time.perf_counter()
        for i in range(UPDATES):
            ctx.update_task(progress=(i + 1, UPDATES))
        timings["ours"] = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(UPDATES):
            _ = (i + 1, UPDATES)  # the same loop, without the call
        timings["raw"] = time.perf_counter() - start

    t = hot()
    event.remove(engine, "before_cursor_execute", count)
    assert t.status == "success" and t.progress.current == UPDATES
    windows = math.ceil(timings["ours"] / throttle) if throttle else UPDATES
    return {
        "ours_s": timings["ours"],
        "raw_s": timings["raw"],
        "writes": writes[0],
        "windows": windows,
    }


# -- 3. cancel latency ----------------------------------------------------------------


def _cancel_once(url: str, poll: float, remote: bool) -> float:
    started = threading.Event()
    handled_at: list[float] = []

    @task(name="bench_cancel")
    def loop() -> None:
        ctx = get_context()
        ctx.on_abort(lambda: handled_at.append(time.perf_counter()))
        started.set()
        ctx.abort_requested.wait(60)

    t = loop.schedule()
    assert started.wait(30)
    # Land the cancel at a random point of a poll interval: latency spans 0..poll.
    time.sleep(poll * random.uniform(0.05, 0.95))
    if remote:
        # What another process does: commit the abort, notify nobody here.
        from resumable._db.engine import open_database
        from resumable.migrations.schema import tasks

        other = open_database(url)
        statement = (
            update(tasks)
            .where(tasks.c.uuid == t.uuid, tasks.c.status == "in_progress")
            .values(status="aborting", abort_reason="cancel")
        )
        with other.tx.begin() as conn:
            conn.execute(statement)
        committed = time.perf_counter()
        other.dispose()
    else:
        committed = time.perf_counter()
        assert t.cancel() == "aborted"
    assert t.wait(timeout=60).status == "aborted"
    return handled_at[0] - committed


def bench_cancel(url: str, poll: float, samples: int, remote: bool) -> list[float]:
    resumable.configure(database_url=url, executor="thread", abort_poll_interval=poll)
    return [_cancel_once(url, poll, remote) for _ in range(samples)]


# -- 4. round trips per path ----------------------------------------------------------


def _kinds(statements: list[str]) -> list[str]:
    # "INSERT resumable_tasks" rather than the whole SQL: enough to see what is sent.
    kinds = []
    for statement in statements:
        words = statement.replace('"', "").split()
        table = next((w.split(".")[-1] for w in words[1:] if "resumable_" in w), "")
        kinds.append(f"{words[0] if words else ';'} {table}".strip())
    return kinds


def _counted(work: Any) -> tuple[int, list[str]]:
    with count_round_trips() as trips:
        work()
    return trips.total, _kinds(trips.statements)


def bench_round_trips(url: str) -> dict[str, tuple[int, list[str]]]:
    """Round trips of each path, after one warm-up of each (pools, caches, tables)."""
    from resumable.execution.worker._child import run_here

    resumable.configure(database_url=url, executor="thread")

    @task(name="bench_trips")
    def noop() -> None:
        return None

    def scheduled() -> None:
        noop.schedule().wait(timeout=30)

    for warm in (noop, lambda: noop(options=TaskOptions(task_key="w")), scheduled):
        warm()
    result = {
        "direct call": _counted(noop),
        "direct call, keyed": _counted(lambda: noop(options=TaskOptions(task_key="k"))),
        ".schedule() + run (thread) + wait": _counted(scheduled),
    }
    ended = noop()
    result["wait on an ended task"] = _counted(lambda: ended.wait(timeout=5))
    resumable.configure(database_url=url, executor="worker")
    pending = noop.schedule()
    result["cancel a pending task"] = _counted(pending.cancel)
    services = _services.current()

    def on_worker() -> None:
        # What a worker and its (warm, reused) child send for one attempt: the claim,
        # which returns the whole row (worker), then the child's run of that row.
        for _ in range(2):  # the first one warms the claim's kept connection
            noop.schedule()
            with count_round_trips() as trips:
                (claimed,) = services.leases.claim(1, "bench", [noop.name])
                # settled: the worker looks no further
                assert run_here(services, claimed.uuid, claimed)
        result["run on the worker (claim, then the child)"] = (
            trips.total,
            _kinds(trips.statements),
        )

    on_worker()
    return result


# -- 5. the direct call next to the raw driver ----------------------------------------


def bench_floor(url: str, calls: int) -> dict[str, float]:
    """p50 of a no-op direct call and of the raw driver sending the same statements."""
    resumable.configure(database_url=url, executor="inline")

    @task(name="bench_floor")
    def noop() -> None:
        return None

    noop()
    with count_round_trips() as trips:
        noop()
    statements = trips.total
    # The floor: the raw driver on a connection of its own, sending the very statements
    # the call sends (same SQL, same table and indexes, a fresh uuid each time).
    from resumable.tasks._statements import INSERT_COLUMNS

    hot = _services.current().repository._hot
    template = _services.current().repository.get(noop().uuid, subscribers=False)
    assert template is not None
    if url.startswith("sqlite"):
        import sqlite3

        raw_conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw_conn.execute("PRAGMA journal_mode=WAL")
        raw_conn.execute("PRAGMA synchronous=NORMAL")
        notify = None
    else:
        import psycopg

        from resumable.coordination._pg_notify import channel_name, libpq_conninfo

        raw_conn = psycopg.connect(autocommit=True, **libpq_conninfo(url))
        notify = channel_name(url.split("schema=")[1])

    def raw() -> None:
        from resumable._db.types import utcnow

        now = utcnow()
        row = dict.fromkeys(INSERT_COLUMNS)
        row.update(
            uuid=str(uuid.uuid4()),
            name=template.name,
            scope=template.scope.value,
            status="in_progress",
            attempt=1,
            retries=0,
            retry_delay=0.0,
            abortable=False,
            timeout_unenforceable=False,
            executor="inline",
            created_at=now,
            updated_at=now,
            started_at=now,
            heartbeat_at=now,
        )
        insert = hot.insert
        raw_conn.execute(insert.sql, insert.parameters({f"v_{k}": v for k, v in row.items()}))
        values = {"p_uuid": row["uuid"], "p_now": now, "p_attempt": 1, "p_result": None}
        folded = getattr(hot, "succeed_notify", None)  # None before the signal was folded
        if notify is not None and folded is not None:
            # The final move carries the LISTEN/NOTIFY signal, as the call's does.
            values["p_channel"] = notify
            raw_conn.execute(folded.sql, folded.parameters(values)).fetchall()
            return
        succeed = hot.succeed
        raw_conn.execute(succeed.sql, succeed.parameters(values)).fetchall()
        if notify is not None:
            raw_conn.execute("SELECT pg_notify(%s, %s)", (notify, row["uuid"]))

    ours: list[float] = []
    floor: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        raw()
        floor.append(time.perf_counter() - start)
        start = time.perf_counter()
        noop()
        ours.append(time.perf_counter() - start)
    raw_conn.close()
    return {
        "statements": statements,
        "ours_p50": statistics.median(ours) * 1000,
        "raw_p50": statistics.median(floor) * 1000,
    }


def main() -> None:  # noqa: PLR0915  (one table per measurement)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="no-op calls per backend")
    parser.add_argument("--samples", type=int, default=8, help="cancels per mode")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--only-trips", action="store_true", help="only round trips and the raw-driver floor"
    )
    args = parser.parse_args()
    console = Console()
    overhead = Table(title=f"1. no-op task, direct call ({args.calls} calls)")
    for column in ("backend", "bare p50 ms", "task p50 ms", "task p90 ms", "overhead p50 ms"):
        overhead.add_column(column, justify="right")
    overhead.add_column("target")
    updates = Table(title=f"2. {UPDATES:,} update_task calls in one task")
    for column in ("backend", "throttle s", "loop alone s", "with updates s", "added s"):
        updates.add_column(column, justify="right")
    updates.add_column("writes / windows", justify="right")
    updates.add_column("target")
    cancel = Table(title="3. cancel -> abort handler, thread executor, database polling")
    for column in ("backend", "cancel from", "poll s", "p50 ms", "max ms", "target ms"):
        cancel.add_column(column, justify="right")
    trips = Table(title="4. round trips per path (counted at the driver)")
    for column in ("path", "backend", "round trips"):
        trips.add_column(column)
    sent: list[str] = []
    floor = Table(
        title=f"5. no-op direct call vs the raw driver, same statements ({args.calls} calls)"
    )
    for column in ("backend", "statements", "raw p50 ms", "task p50 ms", "ratio"):
        floor.add_column(column, justify="right")
    floor.add_column("target")
    with tempfile.TemporaryDirectory() as workdir:
        os.environ.setdefault("RESUMABLE_HOME", workdir)
        for backend in args.backends.split(","):
            why = _reachable(backend)
            if why is not None:
                console.print(f"[yellow]{backend} skipped: {why}[/yellow]")
                continue
            with _database(backend, Path(workdir)) as url:
                for path, (count, what) in bench_round_trips(url).items():
                    trips.add_row(path, backend, str(count))
                    sent.append(f"{backend:8} {path}: {'; '.join(what)}")
                f = bench_floor(url, args.calls)
                ratio = f["ours_p50"] / f["raw_p50"]
                floor.add_row(
                    backend,
                    f"{f['statements']:.0f}",
                    f"{f['raw_p50']:.3f}",
                    f"{f['ours_p50']:.3f}",
                    f"{ratio:.2f}",
                    "≤ 1.5x" + (" ok" if ratio <= 1.5 else " MISSED"),
                )
                if args.only_trips:
                    _services.shutdown(wait=True)
                    reset()
                    continue
                o = bench_overhead(url, args.calls)
                extra = o["ours_p50"] - o["raw_p50"]
                target = "≤ 2 ms" if backend == "sqlite" else "-"
                ok = (
                    ""
                    if backend != "sqlite"
                    else (" ok" if extra <= OVERHEAD_TARGET_MS else " MISSED")
                )
                overhead.add_row(
                    backend,
                    f"{o['raw_p50']:.4f}",
                    f"{o['ours_p50']:.3f}",
                    f"{o['ours_p90']:.3f}",
                    f"{extra:.3f}",
                    target + ok,
                )
                u = bench_updates(url, 2.0)
                added = u["ours_s"] - u["raw_s"]
                within = added <= 1.0 and u["writes"] <= u["windows"] + 1
                updates.add_row(
                    backend,
                    "2.0",
                    f"{u['raw_s']:.3f}",
                    f"{u['ours_s']:.3f}",
                    f"{added:.3f}",
                    f"{u['writes']:.0f} / {u['windows']:.0f}",
                    "≤ 1 s, ≤ 1/window" + (" ok" if within else " MISSED"),
                )
                for poll in (1.0, 0.2):
                    for remote in (False, True):
                        lat = bench_cancel(url, poll, args.samples, remote)
                        limit = poll * 1000 + 50
                        worst = max(lat) * 1000
                        cancel.add_row(
                            backend,
                            "other connection" if remote else "this process",
                            f"{poll:g}",
                            f"{statistics.median(lat) * 1000:.1f}",
                            f"{worst:.1f}",
                            f"{limit:.0f}" + (" ok" if worst <= limit else " MISSED"),
                        )
                _services.shutdown(wait=True)
                reset()
    console.print(trips)
    console.print("what each path sends (';' alone: a pool pre-ping):")
    for line in sent:
        console.print(f"  {line}", soft_wrap=True)
    console.print(floor)
    if not args.only_trips:
        console.print(overhead)
        console.print(updates)
        console.print(cancel)


if __name__ == "__main__":
    main()
