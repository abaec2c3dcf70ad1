"""Real worker processes, SIGKILLed, on stores other processes share: no duplicate jobs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from file_system_jobs import FileSystemJobs

import resumable

WORKER = Path(__file__).with_name("job_worker.py")
DEADLINE = 60.0
RECORD_KEY = "file_job_id.resumable"


def start_worker(url: str, root: Path, mode: str = "plain") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, str(root), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not path.exists():
        if worker.poll() is not None:
            raise AssertionError(f"worker exited {worker.returncode}: {worker.communicate()}")
        if time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"{path.name} not written within {DEADLINE}s")
        time.sleep(0.02)


def record(url: str) -> object:
    with resumable.open_store(url) as store:
        return store.scope("pipeline", "run-1").get(RECORD_KEY)


@pytest.mark.slow
def test_worker_killed_mid_poll_and_new_process_reconnects(
    shared_store_url: str, tmp_path: Path
) -> None:
    system = FileSystemJobs(tmp_path)
    first = start_worker(shared_store_url, tmp_path)
    wait_for(tmp_path / f"polling-{first.pid}", first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=DEADLINE)
    assert first.returncode == -signal.SIGKILL
    (job,) = system.submissions()

    second = start_worker(shared_store_url, tmp_path)
    wait_for(tmp_path / f"polling-{second.pid}", second)
    assert (tmp_path / f"polling-{second.pid}").read_text() == job["id"]  # the same job
    (tmp_path / "release").touch()
    out, err = second.communicate(timeout=DEADLINE)

    assert second.returncode == 0, err
    assert json.loads(out) == {"job": job["id"], "status": "SUCCEEDED"}
    assert "Reconnecting to the recorded job" in err
    assert len(system.submissions()) == 1
    assert record(shared_store_url) == {
        "v": 1,
        "token": job["token"],
        "external_id": job["id"],
        "succeeded": True,
    }


@pytest.mark.slow
def test_worker_killed_inside_submit_is_recovered_by_token(
    shared_store_url: str, tmp_path: Path
) -> None:
    system = FileSystemJobs(tmp_path)
    first = start_worker(shared_store_url, tmp_path, "die_after_accept")
    first.communicate(timeout=DEADLINE)
    assert first.returncode == -signal.SIGKILL
    (job,) = system.submissions()
    assert record(shared_store_url) == {"v": 1, "token": job["token"]}  # intent, no id

    (tmp_path / "release").touch()
    second = start_worker(shared_store_url, tmp_path)
    out, err = second.communicate(timeout=DEADLINE)

    assert second.returncode == 0, err
    assert json.loads(out) == {"job": job["id"], "status": "SUCCEEDED"}
    assert "reconnecting to the job found by its token" in err
    assert len(system.submissions()) == 1
