"""Redis restarts mid-run (issue 15, item 2): commands retry through the outage.

Each test runs its own redis-server (tests/private_redis.py), with AOF so a restart
keeps the data, and kills it with SIGKILL; the shared server is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import resumable
from resumable import StoreUnavailableError
from tests.jobs.file_system_jobs import FileSystemJobs
from tests.private_redis import PERSISTENT, PrivateRedis

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 1.5  # well inside the default retry_seconds (5)
WORKER = Path(__file__).parents[1] / "jobs" / "pause_worker.py"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    directory = tmp_path / "redis"
    directory.mkdir()
    private = PrivateRedis(directory, *PERSISTENT)
    yield private
    private.kill()


def restart_after(server: PrivateRedis, seconds: float) -> threading.Thread:
    """Kill the server now; start it again ``seconds`` later, in a thread."""
    server.kill()

    def later() -> None:
        time.sleep(seconds)
        server.start()

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_writes_and_reads_during_a_restart_wait_for_the_server(server: PrivateRedis) -> None:
    with resumable.open_store(server.url, require_durable=True) as store:
        ts = store.scope("ns", "run")
        fenced = ts.new_attempt()
        ts.set("n", 0)
        back = restart_after(server, OUTAGE_SECONDS)
        # Each of these starts while the server is down and completes once it is back.
        ts.set("n", 1)
        fenced.update({"a": [1, None], "b": "x"})
        assert ts.get("n") == 1
        newer = ts.new_attempt()
        assert newer.attempt == fenced.attempt + 1  # INCR ran once: no lost reply here
        back.join()
        with pytest.raises(resumable.StaleAttemptError):
            fenced.set("a", 2)
        assert ts.keys() == ["a", "b", "n"]
        store.purge_expired()
    server.kill()
    server.start()  # AOF: everything written before the crash is still there
    with resumable.open_store(server.url, require_durable=True) as store:
        assert store.scope("ns", "run").get("a") == [1, None]


def test_an_outage_longer_than_retry_seconds_fails_with_the_typed_error(
    server: PrivateRedis,
) -> None:
    with resumable.open_store(f"{server.url}?retry_seconds=0.3") as store:
        ts = store.scope("ns", "run")
        ts.set("k", 1)
        server.kill()
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            ts.set("k", 2)
        with pytest.raises(StoreUnavailableError):
            ts.get("k")
        server.start()
        assert ts.get("k") == 1  # the client reconnects by itself afterwards


@pytest.mark.parametrize("bad", ["-1", "soon", "nan", "inf"])
def test_bad_retry_seconds(server: PrivateRedis, bad: str) -> None:
    with pytest.raises(StoreUnavailableError, match="retry_seconds"):
        resumable.open_store(f"{server.url}?retry_seconds={bad}")


def test_runner_rides_out_a_restart_without_a_duplicate(
    server: PrivateRedis, tmp_path: Path
) -> None:
    system = FileSystemJobs(tmp_path)

    def runner() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(WORKER), server.url, str(tmp_path), "checkpoint", "findable"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = runner()
    checkpoints = tmp_path / f"checkpoints-{first.pid}"
    _wait(checkpoints.exists, first)
    back = restart_after(server, OUTAGE_SECONDS)
    back.join()
    written = int(checkpoints.read_text())
    _wait(lambda: int(checkpoints.read_text()) > written + 5, first)  # writing again
    (tmp_path / "release").touch()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    (job,) = system.submissions()
    assert json.loads(out) == {"job": job["id"], "status": "SUCCEEDED"}

    # A second run of the same scope finds the cached success: the record survived too.
    second = runner()
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert json.loads(out)["job"] == job["id"]
    assert len(system.submissions()) == 1


def _wait(check: object, worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, ValueError):  # the file is being rewritten
            pass
        if worker.poll() is not None:
            raise AssertionError(f"runner exited {worker.returncode}: {worker.communicate()}")
        if time.monotonic() > deadline:
            worker.kill()
            raise AssertionError("runner made no progress within 60 s")
        time.sleep(0.02)
