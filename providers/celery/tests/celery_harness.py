"""A real Celery worker on Redis for tests, on a key prefix and queue of its own.

Two suites run one: this provider's tests (``conftest.py``, app in ``celery_app.py``)
and the Airflow tests of ``CeleryJobOperator`` (``tests/airflow``, app in
``tests/airflow/dags/celery_jobs.py``), which run in another nox session and reach this
file by putting its folder on ``sys.path``. So it needs nothing but Celery and Redis.

Everything a run puts in the shared Redis lives under its prefix (key prefix and queue
name alike), so suites on the same server never see each other's messages, and cleanup
deletes only those keys: nothing is ever flushed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis
from celery import Celery

REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEADLINE = 120.0  # seconds for a prefork worker to start on a busy machine


def make_app(main: str, prefix: str) -> Celery:
    """A Celery app on the tests' Redis, its keys under ``prefix:`` and its default queue
    named ``prefix``; JSON only, as in production."""
    app = Celery(main, broker=REDIS_URL, backend=REDIS_URL)
    app.conf.update(
        broker_transport_options={"global_keyprefix": f"{prefix}:"},
        result_backend_transport_options={"global_keyprefix": f"{prefix}:"},
        task_default_queue=prefix,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )
    return app


def require_redis() -> None:
    """Skip the calling test when no Redis answers at ``REDIS_URL`` (under CI: fail)."""
    import pytest  # not at the top: Airflow task processes import this file too

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}")


@contextmanager
def running_worker(
    app_module: str,
    directory: Path,
    prefix: str,
    log_path: Path,
    *,
    concurrency: int,
    env: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Run ``celery -A app_module worker`` (prefork) from ``directory`` until the block
    ends, then delete the prefix's keys. ``app_module`` must build its app for ``prefix``
    (from ``env``, which is added to this process's environment)."""
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH")) if p)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app_module,
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"{prefix}@%h",
            ],
            cwd=directory,
            env={**os.environ, **(env or {}), "PYTHONPATH": path},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEADLINE
        while "ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the Celery worker did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        _delete_prefix(prefix)


def _delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
