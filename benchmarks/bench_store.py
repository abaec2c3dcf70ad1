"""Checkpoint store speed: ``set`` / ``get`` against the raw driver doing the same work.

For every backend, resumable's ``TaskStateStore.set`` and ``.get`` are timed next to a
baseline measured in the same run, on the same server or file:

- sqlite:   SQLAlchemy Core upsert + commit and a Core select, on the same SQLite file
            with the same pragmas (WAL, synchronous=NORMAL);
- postgres: psycopg 3, autocommit ``INSERT … ON CONFLICT DO UPDATE`` and a ``SELECT``;
  (both SQL baselines write the same row as a checkpoint, key + JSON + indexed expiry,
  into a table of their own, and read it back by primary key without any expiry check)
- redis:    redis-py ``HSET`` / ``HGET`` on one hash;
- memory:   a dict under a lock (what any in-process store must at least do).

Every baseline also encodes / decodes the value as JSON, since any checkpoint store must.
Ours and the baseline run in alternating rounds so that machine noise hits both alike.
Target (issue 2): ours ≤ 1.3x raw for set and get on the durable backends, judged on the
median latency (p50); throughput (mean) is shown beside it.

Run: ``python benchmarks/bench_store.py [--ops N] [--backends sqlite,postgres,...]``.
PostgreSQL and Redis come from RESUMABLE_TEST_POSTGRES_URL / RESUMABLE_TEST_REDIS_URL
(default: the local servers); a backend whose server does not answer is reported and
skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import resumable

POSTGRES_URL = os.environ.get(
    "RESUMABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TARGET = 1.3
ROUNDS = 30  # short alternating rounds: load spikes from other processes hit both sides
RETENTION = timedelta(days=30)  # the store's default, so both sides write an expiry
KEYS = 50  # keys cycled through, so set is an update of an existing row, as checkpoints are
VALUE = {"page": 7, "cursor": "c-000123", "done": [1, 2, 3], "job": {"id": "j-42", "ok": True}}

Op = Callable[[int], object]


@dataclass
class Pair:
    """One operation done by resumable and by the raw driver."""

    ours: Op
    raw: Op


@dataclass
class Backend:
    """Callables to benchmark for one backend; ``close`` releases everything."""

    name: str
    set: Pair
    get: Pair
    close: Callable[[], None]


def _key(i: int) -> str:
    return f"key-{i % KEYS}"


def _value(i: int) -> dict[str, Any]:
    return {**VALUE, "page": i}


# -- backends ---------------------------------------------------------------------------


def _ours(url: str) -> tuple[resumable.Store, resumable.TaskStateStore]:
    store = resumable.open_store(url)
    scope = store.scope("bench", "run")
    return store, scope


def _sqlite(workdir: Path) -> Backend:
    import sqlalchemy as sa
    from sqlalchemy.dialects.sqlite import insert

    path = workdir / "bench.db"
    store, ours = _ours(f"sqlite:///{path}")
    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # The same row as a checkpoint: key, JSON value, expiry (indexed, for purging).
    table = sa.Table(
        "raw_state",
        sa.MetaData(),
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("scope_key", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True, index=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    table.create(engine)
    statement = insert(table)
    upsert = statement.on_conflict_do_update(
        index_elements=["namespace", "scope_key", "name"],
        set_={
            "value": statement.excluded.value,
            "expires_at": statement.excluded.expires_at,
            "updated_at": statement.excluded.updated_at,
        },
    )
    select = sa.select(table.c.value).where(
        table.c.namespace == "bench",
        table.c.scope_key == sa.bindparam("sk"),
        table.c.name == sa.bindparam("name"),
    )

    def raw_set(i: int) -> None:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        row = {
            "namespace": "bench",
            "scope_key": "run",
            "name": _key(i),
            "value": json.dumps(_value(i)),
            "expires_at": now + RETENTION,
            "updated_at": now,
        }
        with engine.begin() as conn:
            conn.execute(upsert, row)

    def raw_get(i: int) -> object:
        with engine.connect() as conn:
            return json.loads(conn.execute(select, {"sk": "run", "name": _key(i)}).scalar_one())

    def close() -> None:
        store.close()
        engine.dispose()

    return Backend(
        "sqlite",
        Pair(lambda i: ours.set(_key(i), _value(i)), raw_set),
        Pair(lambda i: ours.get(_key(i)), raw_get),
        close,
    )


def _postgres(_workdir: Path) -> Backend:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    joiner = "&" if "?" in POSTGRES_URL else "?"
    store, ours = _ours(f"{POSTGRES_URL}{joiner}schema={schema}")
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    conn = psycopg.connect(dsn, autocommit=True)
    # The same row as a checkpoint: key, JSON value, expiry (indexed, for purging).
    conn.execute(
        f"CREATE TABLE {schema}.raw_state (namespace varchar(512), scope_key varchar(512), "
        "name varchar(512), value text NOT NULL, expires_at timestamptz, "
        "updated_at timestamptz NOT NULL, PRIMARY KEY (namespace, scope_key, name))"
    )
    conn.execute(f"CREATE INDEX ON {schema}.raw_state (expires_at)")
    upsert = (
        f"INSERT INTO {schema}.raw_state (namespace, scope_key, name, value, expires_at, "
        "updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, scope_key, name) "
        "DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, "
        "updated_at = excluded.updated_at"
    )
    select = (
        f"SELECT value FROM {schema}.raw_state "
        "WHERE namespace = %s AND scope_key = %s AND name = %s"
    )

    def raw_set(i: int) -> None:
        now = datetime.now(timezone.utc)
        row = ("bench", "run", _key(i), json.dumps(_value(i)), now + RETENTION, now)
        conn.execute(upsert, row)

    def raw_get(i: int) -> object:
        row = conn.execute(select, ("bench", "run", _key(i))).fetchone()
        assert row is not None
        return json.loads(row[0])

    def close() -> None:
        store.close()
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()

    return Backend(
        "postgres",
        Pair(lambda i: ours.set(_key(i), _value(i)), raw_set),
        Pair(lambda i: ours.get(_key(i)), raw_get),
        close,
    )


def _redis(_workdir: Path) -> Backend:
    import redis

    prefix = f"bench:{uuid.uuid4().hex[:10]}:"
    joiner = "&" if "?" in REDIS_URL else "?"
    store, ours = _ours(f"{REDIS_URL}{joiner}prefix={prefix}")
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    raw_hash = f"{prefix}raw"

    def raw_get(i: int) -> object:
        return json.loads(client.hget(raw_hash, _key(i)))  # type: ignore[arg-type]

    def close() -> None:
        store.close()
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    return Backend(
        "redis",
        Pair(
            lambda i: ours.set(_key(i), _value(i)),
            lambda i: client.hset(raw_hash, _key(i), json.dumps(_value(i))),
        ),
        Pair(lambda i: ours.get(_key(i)), raw_get),
        close,
    )


def _memory(_workdir: Path) -> Backend:
    store, ours = _ours("memory://")
    lock = threading.Lock()
    data: dict[str, str] = {}

    def raw_set(i: int) -> None:
        text = json.dumps(_value(i))
        with lock:
            data[_key(i)] = text

    def raw_get(i: int) -> object:
        with lock:
            text = data[_key(i)]
        return json.loads(text)

    return Backend(
        "memory",
        Pair(lambda i: ours.set(_key(i), _value(i)), raw_set),
        Pair(lambda i: ours.get(_key(i)), raw_get),
        store.close,
    )


FACTORIES: dict[str, Callable[[Path], Backend]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
    "redis": _redis,
    "memory": _memory,
}
DEFAULT_OPS = {"sqlite": 3000, "postgres": 3000, "redis": 3000, "memory": 30000}


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Stats:
    """Latency percentiles (µs) and throughput (ops/s) of one measured operation."""

    p50: float
    p95: float
    throughput: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Stats:
        ordered = sorted(samples_ns)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return cls(
            p50=statistics.median(ordered) / 1000,
            p95=p95 / 1000,
            throughput=len(ordered) / (sum(ordered) / 1e9),
        )


def _timed(op: Op, start: int, count: int, into: list[int]) -> None:
    clock = time.perf_counter_ns
    for i in range(start, start + count):
        before = clock()
        op(i)
        into.append(clock() - before)


def measure(pair: Pair, ops: int) -> tuple[Stats, Stats]:
    """Time ``ops`` calls of each side, in alternating rounds after a warm-up."""
    per_round = max(1, ops // ROUNDS)
    _timed(pair.ours, 0, min(200, per_round), [])
    _timed(pair.raw, 0, min(200, per_round), [])
    ours: list[int] = []
    raw: list[int] = []
    for round_ in range(ROUNDS):
        start = round_ * per_round
        if round_ % 2:
            _timed(pair.raw, start, per_round, raw)
            _timed(pair.ours, start, per_round, ours)
        else:
            _timed(pair.ours, start, per_round, ours)
            _timed(pair.raw, start, per_round, raw)
    return Stats.of(ours), Stats.of(raw)


@contextmanager
def _opened(name: str, workdir: Path) -> Iterator[Backend]:
    backend = FACTORIES[name](workdir)
    try:
        yield backend
    finally:
        backend.close()


def run(backends: list[str], ops: int | None) -> Table:
    """Benchmark the given backends and return the result table."""
    table = Table(title="resumable store: ours vs raw driver (latency in µs)")
    for column in ("backend", "op", "ours p50", "raw p50", "ours p95", "raw p95"):
        table.add_column(column, justify="right" if column != "backend" else "left")
    for column in ("ours ops/s", "raw ops/s", "ratio p50", "ratio ops", "target"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for name in backends:
            try:
                context = _opened(name, Path(tmp))
                backend = context.__enter__()
            except Exception as exc:  # a missing server is reported, not fatal
                table.add_row(name, "-", f"[yellow]skipped: {exc}"[:60])
                continue
            try:
                count = ops or DEFAULT_OPS[name]
                for op_name, pair in (("set", backend.set), ("get", backend.get)):
                    ours, raw = measure(pair, count)
                    ratio = ours.p50 / raw.p50
                    ratio_ops = raw.throughput / ours.throughput
                    # Judged on the median: the mean (ops/s) of a shared machine is
                    # dominated by whichever side a load spike happened to hit.
                    if name == "memory":
                        verdict = "n/a"
                    else:
                        verdict = "[green]ok" if ratio <= TARGET else "[red]missed"
                    table.add_row(
                        name,
                        op_name,
                        f"{ours.p50:.1f}",
                        f"{raw.p50:.1f}",
                        f"{ours.p95:.1f}",
                        f"{raw.p95:.1f}",
                        f"{ours.throughput:,.0f}",
                        f"{raw.throughput:,.0f}",
                        f"{ratio:.2f}x",
                        f"{ratio_ops:.2f}x",
                        verdict,
                    )
            finally:
                context.__exit__(None, None, None)
    return table


def main() -> None:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=None, help="operations per measurement")
    parser.add_argument(
        "--backends", default=",".join(FACTORIES), help="comma-separated: " + ",".join(FACTORIES)
    )
    args = parser.parse_args()
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(names) - set(FACTORIES))
    if unknown:
        parser.error(f"unknown backends: {', '.join(unknown)}")
    console = Console(width=max(140, Console().width))
    console.print(run(names, args.ops))
    console.print(
        f"ratio p50 = ours p50 / raw p50 (the target: ≤ {TARGET}x on durable backends; "
        "memory is informational); ratio ops = raw ops/s / ours ops/s."
    )


if __name__ == "__main__":
    main()
