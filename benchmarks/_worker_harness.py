"""Harness of benchmarks/bench_workers.py: servers, temp space, ``resumable worker`` processes."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from resumable._config import reset
from resumable.tasks import _services

POSTGRES_URL = os.environ.get(
    "RESUMABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TASKS_MODULE = "_worker_tasks"  # benchmarks/_worker_tasks.py
BENCH_DIR = Path(__file__).resolve().parent


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def wait_file(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} did not appear within {timeout:g} s")
        time.sleep(0.002)
    return path.read_text()


@dataclass
class Env:
    """Where this run lives: a temp dir for files, its own schema and Redis key prefix."""

    workdir: Path
    schema: str
    prefix: str

    @property
    def postgres(self) -> str:
        joiner = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{joiner}schema={self.schema}"

    @property
    def redis(self) -> str:
        joiner = "&" if "?" in REDIS_URL else "?"
        return f"{REDIS_URL}{joiner}prefix={self.prefix}"

    def sqlite(self, name: str) -> str:
        return f"sqlite:///{self.workdir / f'{name}.db'}"

    def markers(self) -> Path:
        path = self.workdir / f"markers-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        return path


@contextmanager
def bench_env() -> Iterator[Env]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["RESUMABLE_HOME"] = str(workdir / "home")
        env = Env(workdir, f"bench_{uuid.uuid4().hex[:10]}", f"bench-{uuid.uuid4().hex[:8]}:")
        try:
            yield env
        finally:
            _services.shutdown(wait=True)
            reset()
            _drop(env)


def _drop(env: Env) -> None:
    from resumable._db.engine import open_database

    database = open_database(POSTGRES_URL)
    with database.auto.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{env.schema}" CASCADE'))
    database.dispose()
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{env.prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


class WorkerProcess:
    """A ``resumable worker`` subprocess importing the bench's task module."""

    def __init__(self, env: Env, database_url: str, *args: str, redis_url: str | None = None):
        command = [
            sys.executable,
            "-c",
            "from resumable.cli import run; run()",
            "worker",
            "--import",
            TASKS_MODULE,
            "--database-url",
            database_url,
            "--log-level",
            "WARNING",
            *args,
        ]
        if redis_url:
            command += ["--redis-url", redis_url]
        environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), *sys.path])}
        environ.pop("RESUMABLE_REDIS_URL", None)
        self.log = env.workdir / f"worker-{uuid.uuid4().hex[:6]}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=environ, stdout=log, stderr=log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def workers(
    env: Env, database_url: str, *args: str, redis_url: str | None = None, count: int = 1
) -> Iterator[list[WorkerProcess]]:
    started = [WorkerProcess(env, database_url, *args, redis_url=redis_url) for _ in range(count)]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()
