"""Worker processes: abort delivery, dedup contention, crash-to-retry, throughput.

Everything runs against real servers and real ``resumable worker`` processes started
by this script (``--import _worker_tasks``, the tasks in benchmarks/_worker_tasks.py):

1. Abort delivery latency, cancel() -> on_abort handler running in a worker's child
   process, per transport: Redis streams (PostgreSQL database + ``redis_url``),
   PostgreSQL LISTEN/NOTIFY (no Redis), database polling (SQLite, default
   ``abort_poll_interval`` of 1 s). The canceller records ``time.time()`` just before
   ``cancel()``; the handler records ``time.time()`` in a file (same machine, same
   clock). Tasks run ``--concurrency`` at a time; the cancels of one round are spread
   at random offsets over a window, so polling is hit at every phase. Baseline: the
   raw channel (a bare XADD -> XREAD, NOTIFY -> LISTEN) timed in the same run.
   Targets: p99 <= 50 ms push, <= interval + 50 ms polling.
2. Dedup contention: 8 processes x 25 schedules of one SHARED key on PostgreSQL, each
   process acting as its own user: tasks created (must be 1), callers subscribed
   (must be 8), errors (must be 0), schedule latency; baseline: the same schedules
   without a key (no contention), in the same run.
3. Crash-to-retry: two workers (lease 3 s, heartbeat 1 s); SIGKILL the one running a
   checkpointing task; time until attempt 2 starts in the other, and whether it resumed
   from the checkpoint. Target: <= lease + 5 s.
4. Throughput of no-op tasks through one worker with concurrency 1, 2, 4 on PostgreSQL,
   next to the in-process thread executor with as many threads. Target: the worker at
   least 0.5 times the thread executor at concurrency 2.
5. Memory of a worker with 4 children (the worker, its forkserver and the children,
   resident set summed from /proc) after 100 no-op tasks and after 10 000 (``--quick``:
   2 000). Target: at most 10 % growth.

Run: ``python benchmarks/bench_workers.py [--quick] [--only abort,dedup,crash,throughput,memory]``
(about 3 minutes in full, 2 with ``--quick``). PostgreSQL comes from
RESUMABLE_TEST_POSTGRES_URL and Redis from RESUMABLE_TEST_REDIS_URL (defaults: the local
servers); every run uses its own schema and key prefix and removes them at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _worker_harness import (
    REDIS_URL,
    Env,
    WorkerProcess,
    bench_env,
    percentile,
    wait_file,
    workers,
)
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

import resumable
from resumable.tasks import _services

PUSH_TARGET_MS = 50.0
POLL_INTERVAL = 1.0  # the default abort_poll_interval, measured as shipped
CRASH_LEASE = 3.0
CRASH_HEARTBEAT = 1.0


# -- 1. abort delivery latency --------------------------------------------------------


@dataclass
class AbortResult:
    transport: str
    database: str
    samples: list[float]  # seconds, cancel() called -> handler running
    cancel_calls: list[float]  # seconds spent inside cancel()
    raw_ms: float | None
    limit_ms: float
    concurrency: int
    spread: float


def _cancel_later(
    t: resumable.Task, pause: float, cancelled_at: list[float], index: int, calls: list[float]
) -> None:
    """Sleep ``pause``, then cancel ``t``, noting when (wall clock) and how long it took."""
    time.sleep(pause)
    cancelled_at[index] = time.time()
    t.cancel()
    calls.append(time.time() - cancelled_at[index])


def bench_abort(
    env: Env,
    transport: str,
    database_url: str,
    redis_url: str | None,
    samples: int,
    concurrency: int,
) -> AbortResult:
    """``samples`` cancels of tasks running ``concurrency`` at a time in one worker.

    Push transports: the ready tasks are cancelled one after the other, each after a
    random pause and once the previous one has ended, so each sample is one cancel
    alone. Polling: every task of a round is cancelled at its own random moment within
    one polling interval (overlapping, from one thread each), so the samples cover
    every phase of the polling loop without a 200-second run.
    """
    resumable.configure(database_url=database_url, redis_url=redis_url, executor="worker")
    from _worker_tasks import wait_for_abort

    markers = env.markers()
    latencies: list[float] = []
    calls: list[float] = []
    spread = POLL_INTERVAL if transport == "polling" else 0.0
    args = ("--concurrency", str(concurrency), "--poll-interval", "0.05", "--grace", "1")
    with workers(env, database_url, *args, redis_url=redis_url):
        while len(latencies) < samples:
            batch = min(concurrency, samples - len(latencies))
            paths = [markers / f"{len(latencies) + i}" for i in range(batch)]
            scheduled = [wait_for_abort.schedule(str(p)) for p in paths]
            for path in paths:
                wait_file(path.with_suffix(".ready"), 60)
            cancelled_at = [0.0] * batch
            if spread:
                threads = [
                    threading.Thread(
                        target=_cancel_later,
                        args=(t, random.uniform(0, spread), cancelled_at, i, calls),
                    )
                    for i, t in enumerate(scheduled)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            for index, path in enumerate(paths):
                if not spread:
                    pause = random.uniform(0, 0.05)
                    _cancel_later(scheduled[index], pause, cancelled_at, index, calls)
                handled = float(wait_file(path.with_suffix(".aborted"), 60))
                latencies.append(handled - cancelled_at[index])
                assert scheduled[index].wait(timeout=60).status == "aborted"
    _services.shutdown(wait=True)
    limit = PUSH_TARGET_MS if transport != "polling" else POLL_INTERVAL * 1000 + 50
    return AbortResult(
        transport,
        database_url.split(":", 1)[0],
        latencies,
        calls,
        raw_channel_ms(env, transport),
        limit,
        concurrency,
        spread,
    )


def raw_channel_ms(env: Env, transport: str, rounds: int = 50) -> float | None:
    """p50 of a bare publish -> listener wake-up on the same server (the floor)."""
    if transport == "polling":
        return None
    received = threading.Event()
    stop = threading.Event()
    ready = threading.Event()
    if transport == "redis-streams":
        import redis

        stream = f"{env.prefix}raw"
        publisher: Any = redis.Redis.from_url(REDIS_URL)

        def listen() -> None:
            client: Any = redis.Redis.from_url(REDIS_URL)
            last = "$"
            ready.set()
            while not stop.is_set():
                for _name, entries in client.xread({stream: last}, block=200) or ():
                    last = entries[-1][0]
                    received.set()
            client.close()

        def publish() -> None:
            publisher.xadd(stream, {"uuid": "x"}, maxlen=1000)

    else:
        import psycopg

        from resumable.coordination._pg_notify import libpq_conninfo

        conninfo = libpq_conninfo(env.postgres)
        publisher = psycopg.connect(autocommit=True, **conninfo)

        def listen() -> None:
            with psycopg.connect(autocommit=True, **conninfo) as conn:
                conn.execute('LISTEN "bench_raw"')
                ready.set()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0.2):
                        received.set()

        def publish() -> None:
            publisher.execute("SELECT pg_notify('bench_raw', 'x')")

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(10)
    time.sleep(0.3)  # XREAD "$" / LISTEN must be in place before the first publish
    timings = []
    for _ in range(rounds):
        received.clear()
        start = time.perf_counter()
        publish()
        received.wait(5)
        timings.append(time.perf_counter() - start)
    stop.set()
    listener.join(5)
    publisher.close()
    return statistics.median(timings) * 1000


# -- 2. dedup contention --------------------------------------------------------------


def _schedule_many(
    database_url: str,
    user: str,
    key: str | None,
    count: int,
    barrier: Any,
    results: Any,
) -> None:
    from _worker_tasks import shared

    resumable.configure(database_url=database_url, executor="worker")
    resumable.list_tasks(limit=1)  # connect and migrate before the race starts
    latencies: list[float] = []
    errors: list[str] = []
    uuids: set[str] = set()
    barrier.wait(60)
    for i in range(count):
        options = resumable.TaskOptions(task_key=key or f"{user}-{i}")
        start = time.perf_counter()
        try:
            with resumable.acting_as(user):
                uuids.add(shared.schedule(options=options).uuid)
        except Exception as exc:  # counted and reported: the bench wants zero
            errors.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - start)
    _services.shutdown(wait=True)
    results.put((latencies, errors, sorted(uuids)))


@dataclass
class DedupResult:
    label: str
    tasks_created: int
    subscribers: int
    errors: list[str]
    latencies: list[float]
    distinct_uuids: int


def bench_dedup(env: Env, processes: int, per_process: int, key: str | None) -> DedupResult:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(
            target=_schedule_many,
            args=(env.postgres, f"user-{n}", key, per_process, barrier, results),
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()
    collected = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(30)
    latencies = [x for got in collected for x in got[0]]
    errors = [x for got in collected for x in got[1]]
    uuids = {x for got in collected for x in got[2]}
    from resumable._db.engine import open_database
    from resumable.migrations.schema import task_subscribers, tasks

    database = open_database(env.postgres)
    with database.auto.connect() as conn:
        where = tasks.c.task_key == key if key else tasks.c.task_key.like("user-%")
        created = conn.execute(select(func.count()).where(where)).scalar_one()
        subscribers = conn.execute(
            select(func.count()).where(task_subscribers.c.task_uuid.in_(list(uuids)))
        ).scalar_one()
        # Nothing here may be left PENDING for the workers of the throughput run.
        conn.execute(tasks.delete().where(tasks.c.name == "bench_shared"))
    database.dispose()
    label = f"one key, {processes} x {per_process}" if key else "no key (baseline)"
    return DedupResult(label, created, subscribers, errors, latencies, len(uuids))


# -- 3. crash-to-retry ----------------------------------------------------------------


@dataclass
class CrashResult:
    seconds: float
    resumed_from: int
    checkpoint_at_kill: int


def bench_crash(env: Env, repeats: int) -> list[CrashResult]:
    from resumable._db.engine import open_database
    from resumable.migrations.schema import tasks

    resumable.configure(database_url=env.postgres, executor="worker")
    from _worker_tasks import checkpointing

    database = open_database(env.postgres)
    args = (
        "--concurrency",
        "2",
        "--poll-interval",
        "0.5",
        "--lease",
        str(CRASH_LEASE),
        "--heartbeat-interval",
        str(CRASH_HEARTBEAT),
        "--grace",
        "1",
    )
    markers = env.markers()
    results = []
    pool = [WorkerProcess(env, env.postgres, *args) for _ in range(2)]
    try:
        for run in range(repeats):
            marker = markers / f"crash{run}"
            t = checkpointing.schedule(str(marker))
            wait_file(Path(f"{marker}.attempt1"), 60)
            time.sleep(random.uniform(0.5, 1.5))  # a few checkpoints, a random beat phase
            with database.auto.connect() as conn:
                worker_id = conn.execute(
                    select(tasks.c.worker_id).where(tasks.c.uuid == t.uuid)
                ).scalar_one()
            victim = next(w for w in pool if w.pid == int(worker_id.split(":")[1]))
            store = _services.current().store
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = time.time()
            victim.process.wait()
            pool.remove(victim)
            # Its child dies with its forkserver within milliseconds; no new attempt can
            # start before the lease runs out, so this reads attempt 1's last checkpoint.
            time.sleep(0.5)
            at_kill = store.scope(*_state_scope(t.uuid)).get("step", 0)
            started, resumed = wait_file(Path(f"{marker}.attempt2"), 60).split()
            results.append(CrashResult(float(started) - killed_at, int(resumed), at_kill))
            t.cancel()
            t.wait(timeout=60)
            pool.append(WorkerProcess(env, env.postgres, *args))
    finally:
        for worker in pool:
            worker.stop()
        database.dispose()
        _services.shutdown(wait=True)
    return results


def _state_scope(task_uuid: str) -> tuple[str, str]:
    from resumable.tasks._identity import state_scope

    record = _services.current().repository.get(task_uuid, subscribers=False)
    assert record is not None
    return state_scope(record.name, record.scope, record.task_key, record.created_by, record.uuid)


# -- 4. throughput --------------------------------------------------------------------


def _tasks_per_second(count: int) -> float:
    from _worker_tasks import noop

    scheduled = [noop.schedule() for _ in range(count)]
    finished = [t.wait(timeout=300) for t in scheduled]
    assert all(t.status == "success" for t in finished), {t.status for t in finished}
    first = min(t.created_at for t in finished)
    last = max(t.ended_at for t in finished if t.ended_at is not None)
    return count / (last - first).total_seconds()


def bench_throughput(env: Env, concurrency: int, count: int) -> tuple[float, float]:
    """(worker tasks/s, thread-executor tasks/s), each with ``concurrency`` slots."""
    from _worker_tasks import noop

    resumable.configure(database_url=env.postgres, executor="thread", max_workers=concurrency)
    noop.schedule().wait(timeout=60)  # warm: migrations, pools
    threads = _tasks_per_second(count)
    _services.shutdown(wait=True)
    resumable.configure(database_url=env.postgres, executor="worker")
    args = ("--concurrency", str(concurrency), "--poll-interval", "0.05")
    with workers(env, env.postgres, *args):
        noop.schedule().wait(timeout=60)  # the worker and its forkserver are up
        through_workers = _tasks_per_second(count)
    _services.shutdown(wait=True)
    return through_workers, threads


# -- 5. memory ------------------------------------------------------------------------


def _tree_rss_kib(root: int) -> tuple[int, int]:
    """(resident KiB summed over ``root`` and its descendants, process count), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total, len(tree)


def _run_noops(count: int, batch: int = 500) -> None:
    from _worker_tasks import noop

    left = count
    while left:
        scheduled = [noop.schedule() for _ in range(min(batch, left))]
        left -= len(scheduled)
        for t in scheduled:
            assert t.wait(timeout=600).status == "success"


def bench_memory(env: Env, small: int, large: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Resident KiB and process count of a 4-child worker after ``small`` and ``large`` tasks."""
    resumable.configure(database_url=env.postgres, executor="worker")
    args = ("--concurrency", "4", "--poll-interval", "0.05")
    with workers(env, env.postgres, *args) as (worker,):
        _run_noops(small)
        after_small = _tree_rss_kib(worker.pid)
        _run_noops(large - small)
        after_large = _tree_rss_kib(worker.pid)
    _services.shutdown(wait=True)
    return after_small, after_large


# -- report ---------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report_abort(env: Env, console: Console, samples: int) -> None:
    table = Table(title=f"1. cancel() -> on_abort running in a worker's child, {samples} each")
    for column in ("transport", "database", "raw channel p50 ms", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for column in ("cancel() call p50 ms", "target p99 ms", "how"):
        table.add_column(column, justify="right")
    runs = [
        ("redis-streams", env.postgres, env.redis),
        ("postgres-notify", env.postgres, None),
        ("polling", env.sqlite("polling"), None),
    ]
    for transport, database_url, redis_url in runs:
        r = bench_abort(env, transport, database_url, redis_url, samples, 10)
        p99 = percentile(r.samples, 0.99) * 1000
        how = f"{r.concurrency} tasks at once, " + (
            f"cancels overlap within {r.spread:g} s" if r.spread else "cancelled one by one"
        )
        table.add_row(
            r.transport,
            r.database,
            "-" if r.raw_ms is None else f"{r.raw_ms:.2f}",
            _ms(statistics.median(r.samples)),
            f"{p99:.1f}",
            _ms(max(r.samples)),
            _ms(statistics.median(r.cancel_calls)),
            f"{r.limit_ms:.0f}" + (" ok" if p99 <= r.limit_ms else " MISSED"),
            how,
        )
    console.print(table)
    console.print(
        f"polling: abort_poll_interval={POLL_INTERVAL:g} s (the default); the push "
        "transports poll at that interval too, as their floor."
    )


def report_dedup(env: Env, console: Console) -> None:
    table = Table(title="2. dedup contention on PostgreSQL, 8 processes x 25 schedules")
    for column in ("keys", "tasks created", "subscribers", "errors", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    table.add_column("target")
    for key in (None, "one-key"):
        d = bench_dedup(env, 8, 25, key)
        ok = d.tasks_created == 1 and d.subscribers == 8 and not d.errors
        table.add_row(
            d.label,
            str(d.tasks_created),
            str(d.subscribers),
            str(len(d.errors)),
            _ms(statistics.median(d.latencies)),
            _ms(percentile(d.latencies, 0.99)),
            "-"
            if key is None
            else "1 task, 8 subscribers, 0 errors" + (" ok" if ok else " MISSED"),
        )
        for error in d.errors[:3]:
            console.print(f"[red]{error}[/red]")
    console.print(table)


def report_crash(env: Env, console: Console, repeats: int) -> None:
    table = Table(
        title=f"3. SIGKILL a worker -> attempt 2 starts in the other worker "
        f"(lease {CRASH_LEASE:g} s, heartbeat {CRASH_HEARTBEAT:g} s)"
    )
    for column in ("run", "seconds", "last checkpoint of attempt 1", "attempt 2 resumed from"):
        table.add_column(column, justify="right")
    table.add_column("target")
    limit = CRASH_LEASE + 5
    for index, c in enumerate(bench_crash(env, repeats), start=1):
        ok = c.seconds <= limit and c.resumed_from == c.checkpoint_at_kill > 0
        table.add_row(
            str(index),
            f"{c.seconds:.2f}",
            str(c.checkpoint_at_kill),
            str(c.resumed_from),
            f"≤ {limit:g} s, resumed" + (" ok" if ok else " MISSED"),
        )
    console.print(table)


def report_throughput(env: Env, console: Console, count: int) -> None:
    table = Table(title=f"4. no-op tasks/s on PostgreSQL, {count} tasks per run")
    for column in ("concurrency", "worker (prefork)", "thread executor", "ratio", "target"):
        table.add_column(column, justify="right")
    for concurrency in (1, 2, 4):
        through_workers, threads = bench_throughput(env, concurrency, count)
        ratio = through_workers / threads
        table.add_row(
            str(concurrency),
            f"{through_workers:.1f}",
            f"{threads:.1f}",
            f"{ratio:.2f}",
            "-" if concurrency != 2 else "≥ 0.5" + (" ok" if ratio >= 0.5 else " MISSED"),
        )
    console.print(table)


def report_memory(env: Env, console: Console, large: int) -> None:
    small = 100
    table = Table(
        title="5. resident memory of a worker with 4 children (worker + forkserver + children)"
    )
    for column in ("after tasks", "resident MiB", "processes", "growth", "target"):
        table.add_column(column, justify="right")
    (small_kib, small_n), (large_kib, large_n) = bench_memory(env, small, large)
    growth = large_kib / small_kib - 1
    table.add_row(str(small), f"{small_kib / 1024:.1f}", str(small_n), "-", "-")
    table.add_row(
        str(large),
        f"{large_kib / 1024:.1f}",
        str(large_n),
        f"{growth * 100:+.1f} %",
        "≤ 10 %" + (" ok" if growth <= 0.10 else " MISSED"),
    )
    console.print(table)


SECTIONS = ("abort", "dedup", "crash", "throughput", "memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args, _ = parser.parse_known_args()  # nox passes every script the same arguments
    only = set(args.only.split(","))
    console = Console(width=150)
    started = time.monotonic()
    console.print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with bench_env() as env:
        if "abort" in only:
            report_abort(env, console, 40 if args.quick else 200)
        if "dedup" in only:
            report_dedup(env, console)
        if "crash" in only:
            report_crash(env, console, 2 if args.quick else 4)
        if "throughput" in only:
            report_throughput(env, console, 40 if args.quick else 100)
        if "memory" in only:
            report_memory(env, console, 2_000 if args.quick else 10_000)
    console.print(
        f"total {time.monotonic() - started:.0f} s; load average at end: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
