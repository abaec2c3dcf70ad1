"""``resumable demo`` end to end, as a user runs it: a real process, the embedded store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_kills_a_worker_and_the_next_one_reconnects(tmp_path: Path) -> None:
    env = {**os.environ, "RESUMABLE_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    env.pop("RESUMABLE_STORE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", "from resumable.cli import run; run()", "demo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "killed with SIGKILL while polling" in out
    assert "worker 2 decision: reconnect" in out
    assert "submissions = 1, attempts = 2" in out
    submitted = [line for line in out.splitlines() if " submitted job-" in line]
    assert len(submitted) == 1  # worker 2 never submitted
    job_id = submitted[0].split(" submitted ")[1].split()[0]
    assert f"worker 2 polling {job_id}" in out  # the same job
    assert (tmp_path / "home" / "state.db").exists()  # the embedded store, no config


def test_demo_help() -> None:
    from resumable.cli import main

    assert main(["demo", "--help"]) == 0


def test_demo_refuses_a_store_other_processes_cannot_reach(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from resumable.cli import main

    assert main(["demo", "--url", "memory://demo"]) == 1
    assert "shared store" in capsys.readouterr().err
