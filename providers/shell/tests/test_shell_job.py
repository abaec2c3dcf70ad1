"""ShellJob against real processes and process groups, SIGKILLed callers included."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from resumable_providers.shell import _runs
from resumable_providers.shell.jobs import ShellCommandError, ShellJob
from shell_factories import failing, python_command, sleeper

import resumable
from resumable.testing import check_job, memory_store

WORKER = Path(__file__).with_name("shell_worker.py")
DEADLINE = 60.0


def wait_until(check, what: str, timeout: float = DEADLINE):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not ours to touch (the pid a reused pid would point at)."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.slow
def test_shell_job_passes_the_conformance_kit(run_root: Path) -> None:
    report = check_job(
        functools.partial(sleeper, str(run_root)),
        make_failing_job=functools.partial(failing, str(run_root)),
    )
    assert report.passed, str(report)


def test_result_output_cwd_and_env(run_root: Path, tmp_path: Path) -> None:
    code = "import os; print(os.getcwd()); print(os.environ['GREETING'])"
    job = ShellJob(python_command(code), cwd=tmp_path, env={"GREETING": "hello"}, run_root=run_root)
    result = resumable.run_job(job, store=memory_store().scope("shell", "r"))
    assert result == {"returncode": 0, "output_tail": f"{tmp_path}\nhello\n"}


def test_string_commands_run_in_the_shell(run_root: Path) -> None:
    job = ShellJob("echo one && echo two | tr a-z A-Z", run_root=run_root, tail_chars=4)
    result = resumable.run_job(job, store=memory_store().scope("shell", "r"))
    assert result == {"returncode": 0, "output_tail": "TWO\n"}


def test_non_zero_exit_fails_with_the_output(run_root: Path) -> None:
    job = failing(str(run_root))
    with pytest.raises(ShellCommandError) as raised:
        resumable.run_job(job, store=memory_store().scope("shell", "r"))
    assert (raised.value.status, raised.value.returncode) == ("failed", 3)
    assert raised.value.output_tail == "boom\n"
    assert "exit status 3" in str(raised.value)


def test_a_program_that_does_not_exist_fails_with_127(run_root: Path) -> None:
    job = ShellJob(["/nonexistent/program"], run_root=run_root)
    with pytest.raises(ShellCommandError) as raised:
        resumable.run_job(job, store=memory_store().scope("shell", "r"))
    assert raised.value.returncode == 127
    assert "cannot start" in raised.value.output_tail


@pytest.mark.parametrize(
    "kwargs",
    [
        {"command": ""},
        {"command": []},
        {"command": ["ls", 3]},
        {"command": "ls", "env": {"A": 1}},
        {"command": "ls", "poll_interval": 0},
        {"command": "ls", "cancel_grace": -1},
        {"command": "ls", "tail_chars": -1},
    ],
)
def test_bad_arguments_raise_and_start_nothing(run_root: Path, kwargs: dict) -> None:  # type: ignore[type-arg]
    command = kwargs.pop("command")
    with pytest.raises(resumable.ConfigurationError):
        ShellJob(command, run_root=run_root, **kwargs)
    assert not run_root.exists()


def start_worker(store_url: str, run_root: Path, code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), store_url, str(run_root), code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_while_polling(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    assert worker.stdout.readline() == "polling\n", worker.communicate()
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=DEADLINE)


@pytest.mark.slow
def test_command_outlives_its_killed_caller_and_the_retry_reads_its_exit_status(
    store_url: str, run_root: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    code = (
        f"import time; open({str(ledger)!r}, 'a').write('ran\\n'); "
        "time.sleep(1); print('finished', flush=True)"
    )
    kill_while_polling(start_worker(store_url, run_root, code))
    (run_dir,) = run_root.iterdir()
    # Nobody watches now; the command still ends and leaves its exit status behind.
    wait_until((run_dir / "exit_status.json").exists, "the orphaned command to end")

    retry = start_worker(store_url, run_root, code)
    out, err = retry.communicate(timeout=DEADLINE)
    assert retry.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {"returncode": 0, "output_tail": "finished\n"}
    assert "already_succeeded" in err
    assert ledger.read_text() == "ran\n"  # started once


@pytest.mark.slow
def test_output_streams_on_from_where_the_killed_attempt_stopped(
    store_url: str, run_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = "import time\nfor i in range(1, 7):\n    print(f'line {i}', flush=True); time.sleep(0.4)"
    first = start_worker(store_url, run_root, code)
    assert first.stderr is not None
    while "line 2" not in first.stderr.readline():  # the first attempt logged line 2 ...
        pass
    (run_dir,) = run_root.iterdir()
    two_lines = len(b"line 1\nline 2\n")
    wait_until(lambda: _runs.read_offset(run_dir) >= two_lines, "the offset to be saved")
    first.send_signal(signal.SIGKILL)  # ... and remembered it
    first.communicate(timeout=DEADLINE)
    streamed = _runs.read_offset(run_dir)

    job = ShellJob(python_command(code), run_root=run_root, poll_interval=0.05)
    with (
        caplog.at_level(logging.INFO, "resumable_providers.shell"),
        resumable.open_store(store_url) as store,
    ):
        resumable.run_job(job, store=store.scope("shell", "run-1"))
    logged_retry = [r.getMessage() for r in caplog.records if r.getMessage().startswith("line")]
    output = (run_dir / "output.log").read_bytes()
    assert logged_retry == output[streamed:].decode().splitlines()
    assert logged_retry[-1] == "line 6"
    assert "line 1" not in logged_retry and "line 2" not in logged_retry


def test_a_reused_pid_is_not_taken_for_the_command(
    run_root: Path, bystander: subprocess.Popen[bytes]
) -> None:
    job = sleeper(str(run_root), seconds=0.1)
    job_id = job.submit_job({})
    wait_until(lambda: job.get_job_status(job_id, {}) == "succeeded", "the command to end")
    (Path(job_id["run_dir"]) / "exit_status.json").unlink()  # as if killed before writing it
    reused = {**job_id, "pid": bystander.pid}  # the pid now belongs to someone else
    assert job.get_job_status(reused, {}) == "lost"
    assert not job.is_job_active("lost")
    job.cancel_job(reused, {})  # must not signal the bystander
    time.sleep(0.2)
    assert bystander.poll() is None


def test_cancel_stops_the_whole_group_then_kills_what_ignores_sigterm(run_root: Path) -> None:
    code = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen(['sleep', '60'])\n"
        "print('ready', flush=True); time.sleep(60)"
    )
    job = ShellJob(python_command(code), run_root=run_root, cancel_grace=0.5)
    job_id = job.submit_job({})
    output = Path(job_id["output"])
    wait_until(lambda: output.exists() and "ready" in output.read_text(), "the command")
    job.cancel_job(job_id, {})
    assert job.get_job_status(job_id, {}) == "cancelled"

    def group_gone() -> bool:
        try:
            os.killpg(job_id["pid"], 0)
        except ProcessLookupError:
            return True
        return _only_zombies(job_id["pid"])

    wait_until(group_gone, "the process group to be gone", timeout=10)


def _only_zombies(pgid: int) -> bool:
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            states.append(fields[0])
    return all(state == "Z" for state in states)


def test_find_job_is_exact(run_root: Path) -> None:
    job = sleeper(str(run_root), seconds=0.1)
    assert job.find_job("no-such-token", {}) is None
    started = _runs.start(run_root / "tok-1", job.command, None, dict(os.environ))
    assert job.find_job("tok-1", {}) == started
    assert job.find_job("tok-2", {}) is None
    # Submitting again with the same token returns the same run, never a second process.
    assert _runs.start(run_root / "tok-1", job.command, None, dict(os.environ)) == started


def test_the_provider_is_listed_with_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    from resumable.cli import main

    assert main(["providers", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (shell,) = [row for row in rows if row["name"] == "shell"]
    assert (shell["distribution"], shell["version"]) == ("resumable-provider-shell", "0.1.0")
    assert shell["jobs"] == ["resumable_providers.shell.jobs.ShellJob"]
