"""One shell run on disk: its folder, the detached process, and what it left behind.

A run folder (named by the idempotency token) holds ``spec.json`` (command and cwd),
``process.json`` (the supervisor's pid and start time), ``output.log``,
``exit_status.json`` once the command ended, ``cancelled`` once cancel was asked, and
``streamed`` (how many bytes of output were already logged).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resumable_providers.shell._supervisor import process_start_time

SUPERVISOR = Path(__file__).with_name("_supervisor.py")

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
LOST = "lost"  # the process is gone and left no exit status (killed with -9, a reboot)


def write_json(path: Path, value: object) -> None:
    """Write ``value`` as JSON so that a reader sees the old file or the new, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def external_id(run_dir: Path) -> dict[str, Any] | None:
    """The id recorded for the run in ``run_dir`` (None before its process started)."""
    process = _read_json(run_dir / "process.json")
    if process is None:
        return None
    return {
        "run_dir": str(run_dir),
        "pid": process["pid"],
        "start_time": process["start_time"],
        "output": str(run_dir / "output.log"),
        "exit_status": str(run_dir / "exit_status.json"),
    }


def start(
    run_dir: Path, command: str | list[str], cwd: str | None, env: Mapping[str, str]
) -> dict[str, Any]:
    """Start ``command`` detached, as the run in ``run_dir``; the same id if it already is."""
    existing = external_id(run_dir)
    if existing is not None:
        return existing
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "spec.json", {"command": command, "cwd": cwd})
    with (run_dir / "supervisor.log").open("ab") as log:
        # -I: the command's PYTHON* variables are the command's business, not ours.
        subprocess.run(
            [sys.executable, "-I", str(SUPERVISOR), str(run_dir)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=60,
        )
    started = external_id(run_dir)
    if started is None:
        raise RuntimeError(f"the supervisor of {run_dir} did not record its process")
    return started


def wait_for_start(run_dir: Path, seconds: float) -> dict[str, Any] | None:
    """The run's id; waits up to ``seconds`` when its spec exists but the pid does not yet."""
    deadline = time.monotonic() + seconds
    while True:
        found = external_id(run_dir)
        if found is not None or not (run_dir / "spec.json").exists():
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def is_alive(job_id: Mapping[str, Any]) -> bool:
    """Whether the supervisor still runs: same pid *and* same start time (pid reuse)."""
    started = job_id.get("start_time")
    return started is not None and process_start_time(int(job_id["pid"])) == started


def returncode(job_id: Mapping[str, Any]) -> int | None:
    """The command's exit status, once it has one."""
    status = _read_json(Path(job_id["exit_status"]))
    return None if status is None else int(status["returncode"])


def status(job_id: Mapping[str, Any]) -> str:
    """running, succeeded, failed, cancelled or lost."""
    run_dir = Path(job_id["run_dir"])
    code = returncode(job_id)
    if code is None and is_alive(job_id):
        return RUNNING
    if code is None:
        code = returncode(job_id)  # it may have been written just before the exit
    if (run_dir / "cancelled").exists():
        return CANCELLED
    if code is None:
        return LOST
    return SUCCEEDED if code == 0 else FAILED


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def stop(job_id: Mapping[str, Any], grace: float) -> None:
    """SIGTERM the run's process group, then SIGKILL what is left after ``grace`` s."""
    run_dir = Path(job_id["run_dir"])
    (run_dir / "cancelled").touch()
    pid = int(job_id["pid"])
    if not is_alive(job_id):
        return  # finished, or the pid now belongs to someone else: touch nothing
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and is_alive(job_id) and returncode(job_id) is None:
        time.sleep(0.05)
    # The supervisor leads the group; anything of the command still in it goes now.
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0  # SIGKILL is delivered asynchronously
    while is_alive(job_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    if returncode(job_id) is None and not is_alive(job_id):
        write_json(Path(job_id["exit_status"]), {"returncode": -signal.SIGKILL})


def read_offset(run_dir: Path) -> int:
    """How many bytes of output earlier attempts already logged."""
    try:
        return int((run_dir / "streamed").read_text())
    except (FileNotFoundError, ValueError):
        return 0


def save_offset(run_dir: Path, offset: int) -> None:
    """Remember that the output up to ``offset`` has been logged."""
    write_json(run_dir / "streamed", offset)


def tail(path: Path, chars: int) -> str:
    """The last ``chars`` characters of the file at ``path`` (text, undecodable bytes replaced)."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - chars * 4))
            data = file.read()
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")[-chars:] if chars else ""
