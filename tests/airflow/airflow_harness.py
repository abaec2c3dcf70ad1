"""Driving real Airflow from tests: version checks, the API server, DAG run processes.

Airflow is never imported into the pytest process: DAG runs happen in subprocesses
(``dag_runner.py``), as they would on a worker. The fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DAGS = HERE / "dags"
RUNNER = HERE / "dag_runner.py"
sys.path.insert(0, str(DAGS))

AIRFLOW_MISSING = importlib.util.find_spec("airflow") is None
SKIP_REASON = "Airflow is not installed here; run `nox -s airflow-2.11 airflow-3.2 airflow-3.3`"
DEADLINE = 180.0  # seconds; generous, the machine may be busy
GRACE = 30.0  # seconds a finished DAG run's process gets to exit


def airflow_version() -> tuple[int, int]:
    """(major, minor) of the installed Airflow, read without importing it."""
    major, minor, *_ = importlib.metadata.version("apache-airflow").split(".")
    return int(major), int(minor)


def has_native_store() -> bool:
    """Whether this Airflow gives tasks ``context["task_state_store"]`` (3.3+)."""
    return airflow_version() >= (3, 3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(check: Any, what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class AirflowHome:
    """The Airflow installation the tests drive: its environment and API server."""

    def __init__(self, env: dict[str, str], api_url: str | None) -> None:
        self.env = env
        self.api_url = api_url

    def rest(self, path: str) -> Any:
        """GET ``/api/v2/<path>`` from the API server (Airflow 3) and decode the JSON."""
        assert self.api_url is not None, "no API server on Airflow 2"
        with urllib.request.urlopen(f"{self.api_url}/api/v2/{path}", timeout=30) as resp:
            return json.loads(resp.read())


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session`` and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


_dates = count()


class DagRunProcess:
    """One real DAG run (``dag.test(use_executor=True)``) in a subprocess."""

    def __init__(
        self,
        home: AirflowHome,
        dag_id: str,
        workdir: Path,
        env: dict[str, str],
        command: str = "run",
    ):
        from file_jobs import ROOT_ENV, FileJobs

        self.home = home
        self.dag_id = dag_id
        self.jobs = FileJobs(workdir / "jobs")
        self.jobs.root.mkdir(parents=True)
        # A logical date per run: dag.test replaces any earlier run with the same one,
        # and Airflow 2 refuses dates in the future.
        when = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(
            seconds=int(time.time()) % 10_000_000, minutes=next(_dates)
        )
        self.logical_date = when.isoformat()
        self.log_path = workdir / f"{dag_id}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), command, dag_id, self.logical_date],
            # RESUMABLE_HOME is per test (tests/conftest.py): the embedded default store.
            env={
                **home.env,
                "RESUMABLE_HOME": os.environ.get("RESUMABLE_HOME", str(workdir / "home")),
                **env,
                ROOT_ENV: str(self.jobs.root),
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_marker(self, event: str, try_number: int) -> dict[str, Any]:
        """Wait until the operator reaches ``event`` on try ``try_number``."""

        def reached() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"DAG run ended before {event}.{try_number}:\n{self.log_tail()}"
                )
            return self.jobs.marker(event, try_number)

        return _wait_until(reached, f"{event} on try {try_number}")  # type: ignore[no-any-return]

    def kill_worker(self, marker: dict[str, Any]) -> None:
        """SIGKILL the process running the task, as an OOM kill or a lost node would.

        Airflow 3: the task process dies; its supervisor reports the failure and Airflow
        puts the task up for retry. Airflow 2: the task process and the ``airflow tasks
        run --local`` process above it die; then the scheduler's zombie handling (which
        ``dag.test`` lacks) is applied with Airflow's own ``handle_failure``.
        """
        os.kill(marker["pid"], signal.SIGKILL)
        if airflow_version() >= (3, 0):
            return
        os.kill(marker["ppid"], signal.SIGKILL)
        subprocess.run(
            [sys.executable, str(RUNNER), "reap", self.dag_id, marker["run_id"], "job"],
            env=self.home.env,
            check=True,
            capture_output=True,
            timeout=DEADLINE,
        )

    def finish(self) -> dict[str, Any]:
        """Wait for the DAG run to end; its summary (state, tries, XCom per task).

        ``dag.test`` on Airflow 3 sometimes hangs in ``LocalExecutor.end()`` after the
        run has finished (a worker never takes its shutdown message). Once the run is
        over, the runner gets a grace period, then is killed and the summary is read
        from the metadata DB instead.
        """

        def ended() -> bool:
            if self.process.poll() is not None:
                return True
            return "DagRun Finished" in self.log_path.read_text(errors="replace")

        try:
            _wait_until(ended, f"the {self.dag_id} run to end")
            self.process.wait(timeout=GRACE)
        except (AssertionError, subprocess.TimeoutExpired):
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        finally:
            self._log.close()
        if self.process.returncode == 0:
            return _summary(self.log_path.read_text(errors="replace"), self.log_tail())
        done = subprocess.run(
            [sys.executable, str(RUNNER), "summary", self.dag_id, self.logical_date],
            check=False,  # a failure shows as "no summary", with its stderr
            env=self.home.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        return _summary(done.stdout, f"{self.log_tail()}\n{done.stderr[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if not self._log.closed:
            self._log.close()


def _summary(output: str, context: str) -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        if line.startswith("SUMMARY "):
            return json.loads(line[len("SUMMARY ") :])  # type: ignore[no-any-return]
    raise AssertionError(f"DAG run left no summary:\n{context}")
