"""The Celery engine against raw Celery: no-op throughput and schedule->start latency.

One run starts one real ``celery worker`` (prefork, ``--concurrency``) on a Redis broker
and a PostgreSQL database of its own, then measures, alternating in rounds on that same
worker:

1. Throughput: N no-op tasks sent by ``SENDERS`` client threads while the worker
   consumes, from the first send until the last has ended (the send rate is reported
   too). resumable: ``noop.schedule()`` (one task row +
   one message each), ended = the row is SUCCESS (read from the table once the bodies
   have all counted in Redis, so the wait does not load the database). Raw:
   ``raw_noop.apply_async()`` of a
   plain Celery task with the same options (``acks_late``, no result), ended = a Redis
   counter the body increments (the resumable body increments it too). Target:
   resumable >= 0.5x raw.
2. Latency: M tasks one after the other; each carries ``time.time()`` taken just
   before sending, and its body pushes ``time.time() - sent`` to a Redis list the
   client waits on. Target: resumable p50 <= 2x raw p50.

3. With ``--cpu``: CPU per task by process (client, the worker's main process, its pool
   processes, PostgreSQL, Redis), read from /proc around each throughput round; the
   median of the rounds is printed. Steadier than the rates on a shared machine, and it
   says where a difference comes from.

Run: ``python benchmarks/bench_celery.py [--quick] [--cpu] [--concurrency 2]
[--database sqlite]`` (about a minute with ``--quick``). PostgreSQL comes from
RESUMABLE_TEST_POSTGRES_URL and Redis from RESUMABLE_TEST_REDIS_URL; the run's schema
and key prefix are removed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _cpu import cpu_by_process, per_task_ms
from _worker_harness import REDIS_URL, Env, bench_env, percentile
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from resumable.migrations.schema import tasks
from resumable.tasks import _services

APP = """
import json, os, time

import redis
from celery import Celery

import resumable
from resumable import task

B = json.loads(os.environ["BENCH_CELERY"])
app = Celery("bench_celery_app", broker=B["broker"])
app.conf.update(
    task_default_queue=B["queue"],
    control_exchange=B["queue"] + "-ctl",
    worker_prefetch_multiplier=4,
    broker_transport_options={"global_keyprefix": B["prefix"]},
)
resumable.configure(database_url=B["database"], executor="celery", celery_app=app)
_redis = redis.Redis.from_url(B["redis"])


@app.task(name="bench.raw_noop", acks_late=True, ignore_result=True)
def raw_noop(sent=None):
    if sent is not None:
        _redis.rpush(B["prefix"] + "latency", time.time() - sent)
    _redis.incr(B["prefix"] + "done")


@task(name="bench.noop")
def noop(sent=None):
    if sent is not None:
        _redis.rpush(B["prefix"] + "latency", time.time() - sent)
    _redis.incr(B["prefix"] + "done")
"""


SENDERS = 4


class Bench:
    """The app module loaded here, one worker, and the counters both kinds share."""

    def __init__(self, env: Env, database: str, concurrency: int) -> None:
        import redis

        self.prefix = env.prefix
        config = {
            "broker": REDIS_URL,
            "redis": REDIS_URL,
            "prefix": env.prefix,
            "queue": f"bench-{uuid.uuid4().hex[:8]}",
            "database": env.postgres if database == "postgres" else env.sqlite("celery"),
        }
        os.environ["BENCH_CELERY"] = json.dumps(config)
        (env.workdir / "bench_celery_app.py").write_text(APP)
        sys.path.insert(0, str(env.workdir))
        self.module: Any = importlib.import_module("bench_celery_app")
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.log = env.workdir / "worker.log"
        command = [
            sys.executable, "-m", "celery", "-A", "bench_celery_app", "worker",
            "-P", "prefork", "-c", str(concurrency), "-Q", config["queue"], "-l", "warning",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(env.workdir), *sys.path])}
        with self.log.open("w") as log:
            self.worker = subprocess.Popen(
                command, cwd=env.workdir, env=environ, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        # Warm both paths (pool processes import, connect, migrate) before measuring.
        self.throughput("raw", 8)
        self.throughput("resumable", 8)

    def close(self) -> None:
        os.killpg(self.worker.pid, signal.SIGTERM)
        try:
            self.worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
        self.redis.close()

    def _send(self, kind: str, sent: float | None = None) -> None:
        if kind == "raw":
            self.module.raw_noop.apply_async(kwargs={"sent": sent})
        else:
            self.module.noop.schedule(sent=sent)

    def _succeeded(self) -> int:
        database = _services.current().repository.database
        query = select(func.count()).select_from(tasks).where(tasks.c.status == "success")
        with database.auto.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def throughput(self, kind: str, n: int) -> tuple[float, float]:
        """(send rate, throughput) in tasks per second.

        ``SENDERS`` client threads send N tasks while the worker consumes; throughput
        runs from the first send to the last task's end. More than one sender, so the
        client's own commits (``.schedule()`` inserts the row) do not cap the figure:
        it is the worker's rate that is compared.
        """
        self.redis.set(self.prefix + "done", 0)
        before = self._succeeded() if kind == "resumable" else 0
        start = time.perf_counter()
        with ThreadPoolExecutor(SENDERS) as pool:
            for _ in pool.map(lambda _: self._send(kind), range(n)):
                pass
        sent = time.perf_counter() - start
        deadline = time.monotonic() + 300
        # Both bodies count in Redis; a resumable task has ended once its row is
        # SUCCESS, a moment after its body counted. Reading the table only once Redis
        # says every body ran keeps this loop from loading the database (and the two
        # shared cores) while the worker drains: the raw side's loop costs nothing
        # either.
        counted = False
        while True:
            if not counted:
                done = int(self.redis.get(self.prefix + "done") or 0)
                counted = done >= n
            if counted:
                done = n if kind == "raw" else self._succeeded() - before
            if done >= n:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind}: {done} of {n} done after 300 s; see {self.log}")
            time.sleep(0.01)
        return n / sent, n / (time.perf_counter() - start)

    def latencies(self, kind: str, m: int) -> list[float]:
        """Schedule->start seconds of ``m`` tasks sent one after the other."""
        key = self.prefix + "latency"
        self.redis.delete(key)
        found = []
        for _ in range(m):
            self._send(kind, sent=time.time())
            popped = self.redis.blpop([key], timeout=60)
            if popped is None:
                raise TimeoutError(f"{kind}: a task did not start within 60 s; see {self.log}")
            found.append(float(popped[1]))
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tasks and rounds")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--cpu", action="store_true", help="CPU per task by process too")
    options = parser.parse_args()
    n, m, rounds = (300, 40, 2) if options.quick else (1000, 100, 3)
    console = Console()
    with bench_env() as env:
        bench = Bench(env, options.database, options.concurrency)
        try:
            rates: dict[str, list[float]] = {"raw": [], "resumable": []}
            sends: dict[str, list[float]] = {"raw": [], "resumable": []}
            delays: dict[str, list[float]] = {"raw": [], "resumable": []}
            cpu: dict[str, list[dict[str, float]]] = {"raw": [], "resumable": []}
            for _ in range(rounds):
                for kind in ("raw", "resumable"):
                    before = cpu_by_process(bench.worker.pid) if options.cpu else {}
                    send_rate, drain_rate = bench.throughput(kind, n)
                    if options.cpu:
                        time.sleep(0.3)  # acknowledgements still on their way
                        after = cpu_by_process(bench.worker.pid)
                        cpu[kind].append(per_task_ms(before, after, n))
                    sends[kind].append(send_rate)
                    rates[kind].append(drain_rate)
                    delays[kind].extend(bench.latencies(kind, m))
        finally:
            bench.close()
    raw_rate, our_rate = statistics.median(rates["raw"]), statistics.median(rates["resumable"])
    raw_p50 = percentile(delays["raw"], 0.5)
    our_p50 = percentile(delays["resumable"], 0.5)
    table = Table(
        title=(
            f"Celery no-op tasks: one prefork worker, concurrency {options.concurrency}, "
            f"Redis broker, {options.database} ({rounds} rounds of {n} for throughput, "
            f"{rounds * m} sequential for latency)"
        )
    )
    for column in ("", "raw Celery", "resumable", "ratio", "target"):
        table.add_column(column, justify="right")
    table.add_row(
        "throughput (tasks/s, median)",
        f"{raw_rate:.0f}",
        f"{our_rate:.0f}",
        f"{our_rate / raw_rate:.2f}x",
        ">= 0.5x",
    )
    raw_send, our_send = statistics.median(sends["raw"]), statistics.median(sends["resumable"])
    table.add_row(
        f"send rate, {SENDERS} client threads (tasks/s)",
        f"{raw_send:.0f}",
        f"{our_send:.0f}",
        f"{our_send / raw_send:.2f}x",
        "",
    )
    for label, q in (("p50", 0.5), ("p95", 0.95)):
        raw_q, our_q = percentile(delays["raw"], q), percentile(delays["resumable"], q)
        table.add_row(
            f"schedule->start {label} (ms)",
            f"{raw_q * 1000:.1f}",
            f"{our_q * 1000:.1f}",
            f"{our_q / raw_q:.2f}x",
            "<= 2x" if label == "p50" else "",
        )
    console.print(table)
    if options.cpu:
        console.print(cpu_table(cpu))
    met = our_rate >= 0.5 * raw_rate and our_p50 <= 2 * raw_p50
    console.print("targets met" if met else "[red]targets NOT met[/red]")


def cpu_table(cpu: dict[str, list[dict[str, float]]]) -> Table:
    """Median CPU milliseconds per task by process, each kind a row."""
    names = list(cpu["raw"][0])
    table = Table(title="CPU per task by process (ms, median of the throughput rounds)")
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for kind, rounds in cpu.items():
        table.add_row(
            kind, *(f"{statistics.median(r[name] for r in rounds):.2f}" for name in names)
        )
    return table


if __name__ == "__main__":
    main()
