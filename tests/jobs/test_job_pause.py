"""A real runner paused (SIGSTOP) at each phase of submit while another takes over.

Issue 15, item 1: runner A freezes; runner B starts a newer attempt, runs the job and
returns its result; then A gets SIGCONT. Every job A submitted must end up adopted (it is
the job B returned) or cancelled, exactly one job's result is returned (B's), and A
stops with StaleAttemptError instead of retrying. On every store other processes share.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from file_system_jobs import FileSystemJobs

WORKER = Path(__file__).with_name("pause_worker.py")
DEADLINE = 120.0

pytestmark = pytest.mark.slow


def start(url: str, root: Path, mode: str, findable: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), url, str(root), mode, "findable" if findable else "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(check: object, worker: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        if worker.poll() is not None:
            raise AssertionError(
                f"worker exited {worker.returncode} before {what}: {worker.communicate()}"
            )
        if time.monotonic() > deadline:
            worker.kill()
            raise AssertionError(f"no {what} within {DEADLINE}s")
        time.sleep(0.02)


def stopped(pid: int) -> bool:
    # Field 3 of /proc/<pid>/stat is the state; T means stopped by a signal.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


SCENARIOS = [
    # (where A pauses, whether the job has find_job, what happens to A's job)
    ("pause_before_accept", True, "cancelled"),
    ("pause_after_accept", True, "adopted"),
    ("pause_after_accept", False, "cancelled"),
    ("pause_in_find", True, "never submitted"),
]


@pytest.mark.parametrize(("mode", "findable", "fate"), SCENARIOS)
def test_paused_runner_leaves_no_orphan(
    shared_store_url: str, tmp_path: Path, mode: str, findable: bool, fate: str
) -> None:
    system = FileSystemJobs(tmp_path)
    if mode == "pause_in_find":
        # A must be a retry that finds an intent without an id: an earlier runner died
        # inside submit_job before the system accepted anything.
        dead = start(shared_store_url, tmp_path, "die_before_accept", findable)
        dead.communicate(timeout=DEADLINE)
        assert dead.returncode == -signal.SIGKILL
    a = start(shared_store_url, tmp_path, mode, findable)
    wait_until(lambda: (tmp_path / f"paused-{a.pid}").exists() and stopped(a.pid), a, "pause")
    submitted_before_b = {job["id"] for job in system.submissions()}

    b = start(shared_store_url, tmp_path, "plain", findable)
    wait_until((tmp_path / f"polling-{b.pid}").exists, b, "B polling")
    (tmp_path / "release").touch()
    b_out, b_err = b.communicate(timeout=DEADLINE)
    assert b.returncode == 0, b_err
    result = json.loads(b_out)
    assert result["status"] == "SUCCEEDED"

    a.send_signal(signal.SIGCONT)
    a_out, a_err = a.communicate(timeout=DEADLINE)
    assert a.returncode == 1, (a_out, a_err)
    assert a_out.strip() == "ERROR StaleAttemptError", a_err
    assert "try failed; retrying" not in a_err  # a stale attempt never retries

    jobs = {job["id"]: system.job(job["id"])["status"] for job in system.submissions()}
    a_jobs = set(jobs) - {result["job"]} if fate != "adopted" else submitted_before_b
    # Exactly one job's result came back (B's); every other job was cancelled.
    assert jobs[result["job"]] == "SUCCEEDED"
    assert {job_id: status for job_id, status in jobs.items() if job_id != result["job"]} == {
        job_id: "CANCELLED" for job_id in a_jobs if job_id != result["job"]
    }
    if fate == "adopted":
        assert a_jobs == {result["job"]}, (jobs, a_err)
        assert "a newer attempt adopted the job" in a_err
    elif fate == "cancelled":
        assert len(a_jobs) == 1, jobs
        assert "cancelled external job" in a_err
    else:
        assert list(jobs) == [result["job"]]  # A stopped at the fence check
