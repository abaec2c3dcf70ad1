"""Starting real ``resumable worker`` processes against a test's own database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

DEADLINE = 30.0


def eventually(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def write_module(directory: Path, source: str) -> str:
    """Write a task module with a unique name into ``directory``; return its name."""
    name = f"worker_tasks_{uuid.uuid4().hex[:10]}"
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return name


class WorkerProcess:
    """One ``resumable worker`` subprocess in a process group of its own."""

    def __init__(
        self,
        directory: Path,
        database_url: str,
        module: str,
        *extra: str,
        redis_url: str | None = None,
        lease: float = 2.0,
        heartbeat: float = 0.5,
        concurrency: int = 2,
    ) -> None:
        self.log_path = directory / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")]),
            "RESUMABLE_DATABASE_URL": database_url,
        }
        env.pop("RESUMABLE_REDIS_URL", None)
        if redis_url:
            env["RESUMABLE_REDIS_URL"] = redis_url
        command = [
            sys.executable, "-c", "from resumable.cli import run; run()", "worker",
            "--import", module, "--concurrency", str(concurrency),
            "--heartbeat-interval", str(heartbeat), "--lease", str(lease),
            "--poll-interval", "0.1", "--abort-poll-interval", "0.5", *extra,
        ]  # fmt: skip
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if not eventually(lambda: "worker started" in self.log(), DEADLINE):
            self.kill()
            raise RuntimeError(f"worker did not start:\n{self.log()}")

    def log(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the worker and every child it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole group and reap the worker."""
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGKILL)
        self.close()

    def stop(self, timeout: float = DEADLINE) -> int:
        """SIGTERM the worker (not its children) and wait for it to exit."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        """Kill what is left of the group, reap the worker, close its log."""
        if self.process.poll() is None:
            self.signal_group(signal.SIGCONT)
            self.signal_group(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()
