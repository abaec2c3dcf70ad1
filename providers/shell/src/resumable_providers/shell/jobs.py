"""``ShellJob``: a command run as a detached process group that survives its caller."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from resumable_providers.shell import _runs

from resumable import ConfigurationError, ResumableError, ResumableJobMixin

__all__ = ["ShellCommandError", "ShellJob", "default_run_root"]

log = logging.getLogger("resumable_providers.shell")


class ShellCommandError(ResumableError, RuntimeError):
    """The command ended without success (non-zero exit, cancelled, or lost).

    Attributes:
        status: ``failed``, ``cancelled`` or ``lost``.
        returncode: The exit status (negative: killed by that signal), None if unknown.
        output_tail: The end of the command's output.
    """

    def __init__(self, status: str, returncode: int | None, output_tail: str) -> None:
        super().__init__(status, returncode, output_tail)
        self.status = status
        self.returncode = returncode
        self.output_tail = output_tail

    def __str__(self) -> str:
        code = "" if self.returncode is None else f" with exit status {self.returncode}"
        last = self.output_tail.strip().splitlines()[-5:]
        output = "\n".join(last)
        return f"shell command {self.status}{code}" + (f"; last output:\n{output}" if last else "")


def default_run_root() -> Path:
    """Where run folders go by default: ``RESUMABLE_SHELL_RUNS``, else ``shell-runs`` in
    resumable's home (``RESUMABLE_HOME``, else the user data folder)."""
    if os.environ.get("RESUMABLE_SHELL_RUNS"):
        return Path(os.environ["RESUMABLE_SHELL_RUNS"])
    home = os.environ.get("RESUMABLE_HOME")
    if home:
        return Path(home) / "shell-runs"
    import platformdirs

    return Path(platformdirs.user_data_dir("resumable", appauthor=False)) / "shell-runs"


def _check_command(command: Any) -> str | list[str]:
    if isinstance(command, str) and command.strip():
        return command
    if (
        isinstance(command, Sequence)
        and not isinstance(command, (str, bytes))
        and command
        and all(isinstance(part, str) for part in command)
    ):
        return list(command)
    raise ConfigurationError(
        f"command must be a non-empty string or a non-empty list of strings, got {command!r}"
    )


def _check_number(name: str, value: Any, *, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (positive and value == 0):
        raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


class ShellJob(ResumableJobMixin):
    """Run a command as a detached process group; a retry reconnects instead of rerunning.

    The command runs under a small supervisor in a session of its own, so it outlives
    the process that started it (an Airflow task process SIGKILLed, a worker lost). Its
    run folder, named by the idempotency token, holds the output and, once the command
    ended, its exit status. The recorded id holds the pid and the process start time, so
    a retry reconnects only to that very process (never to another that got the pid).

    - A retry while the command runs reconnects and streams the output from where the
      last attempt stopped; after it ended, the retry reads the exit status left behind.
    - A retry that died inside ``submit_job`` finds the run folder by its token.
    - ``cancel_job`` sends SIGTERM to the whole process group, then SIGKILL after
      ``cancel_grace`` seconds.
    - The result is ``{"returncode": int, "output_tail": str}``; a non-zero exit raises
      :class:`ShellCommandError`.

    Every try must run on the machine the command runs on (the run folder is local).

    Args:
        command: A list (run directly) or a string (run by ``/bin/sh``).
        cwd: Working directory of the command; default the caller's.
        env: Variables added to the caller's environment for the command.
        run_root: Folder of the run folders; default :func:`default_run_root`.
        poll_interval: Seconds between status checks while polling.
        cancel_grace: Seconds between SIGTERM and SIGKILL on cancel.
        tail_chars: How much of the end of the output the result keeps.
        **kwargs: Passed on (``durable``; an operator's ``task_id`` and friends).

    Example::

        job = ShellJob(["python", "train.py", "--epochs", "20"], cwd="/srv/model")
        result = resumable.run_job(job, store=store.scope("train", "2026-11-21"))
        result["returncode"]  # 0
    """

    external_id_key = "shell_job_id"

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        run_root: str | os.PathLike[str] | None = None,
        poll_interval: float = 1.0,
        cancel_grace: float = 10.0,
        tail_chars: int = 4000,
        **kwargs: Any,
    ) -> None:
        checked = _check_command(command)
        if env is not None and (
            not isinstance(env, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise ConfigurationError(f"env must map strings to strings, got {env!r}")
        if isinstance(tail_chars, bool) or not isinstance(tail_chars, int) or tail_chars < 0:
            raise ConfigurationError(f"tail_chars must be an int >= 0, got {tail_chars!r}")
        interval = _check_number("poll_interval", poll_interval, positive=True)
        grace = _check_number("cancel_grace", cancel_grace, positive=False)
        super().__init__(**kwargs)
        self.command = checked
        self.cwd = None if cwd is None else os.fspath(cwd)
        self.env = None if env is None else dict(env)
        self.run_root = None if run_root is None else os.fspath(run_root)
        self.poll_interval = interval
        self.cancel_grace = grace
        self.tail_chars = tail_chars

    def _root(self) -> Path:
        return Path(self.run_root) if self.run_root else default_run_root()

    def _output_log(self) -> Any:
        # Inside Airflow the operator's own logger writes to the task log.
        return getattr(self, "log", None) or log

    # -- the mixin's methods ---------------------------------------------------------

    def submit_job(self, context: Any) -> dict[str, Any]:
        """Start the command detached in the run folder named by the idempotency token."""
        token = self.idempotency_token(context) or str(uuid.uuid4())
        environment = {**os.environ, **(self.env or {})}
        job_id = _runs.start(self._root() / token, self.command, self.cwd, environment)
        log.info("started shell command pid=%s run_dir=%s", job_id["pid"], job_id["run_dir"])
        return job_id

    def find_job(self, token: str, context: Any) -> dict[str, Any] | None:
        """The run whose folder is named ``token``, if its process was started."""
        return _runs.wait_for_start(self._root() / token, seconds=10.0)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        """``running``, ``succeeded``, ``failed``, ``cancelled`` or ``lost``."""
        return _runs.status(external_id)

    def is_job_active(self, status: str) -> bool:
        """Only ``running`` can be reconnected to."""
        return status == _runs.RUNNING

    def is_job_succeeded(self, status: str) -> bool:
        """Exit status 0."""
        return status == _runs.SUCCEEDED

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        """Stream new output to the log until the command ends; raise unless it succeeded."""
        run_dir = Path(external_id["run_dir"])
        output = Path(external_id["output"])
        offset = _runs.read_offset(run_dir)
        while True:
            status = _runs.status(external_id)
            offset = self._stream(run_dir, output, offset, final=status != _runs.RUNNING)
            if status != _runs.RUNNING:
                break
            time.sleep(self.poll_interval)
        if status != _runs.SUCCEEDED:
            raise ShellCommandError(
                status, _runs.returncode(external_id), _runs.tail(output, self.tail_chars)
            )

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        """``{"returncode": 0, "output_tail": <the end of the output>}``."""
        return {
            "returncode": _runs.returncode(external_id),
            "output_tail": _runs.tail(Path(external_id["output"]), self.tail_chars),
        }

    def cancel_job(self, external_id: Any, context: Any) -> None:
        """SIGTERM the process group; SIGKILL it after ``cancel_grace`` seconds."""
        log.warning("cancelling shell command pid=%s", external_id["pid"])
        _runs.stop(external_id, self.cancel_grace)

    # -- output ------------------------------------------------------------------------

    def _stream(self, run_dir: Path, output: Path, offset: int, *, final: bool) -> int:
        """Log the complete lines written since ``offset`` (all of it when ``final``)."""
        try:
            with output.open("rb") as file:
                file.seek(offset)
                data = file.read()
        except FileNotFoundError:
            return offset
        if not final:
            data = data[: data.rfind(b"\n") + 1]  # a partial line waits for its end
        if not data:
            return offset
        target = self._output_log()
        for line in data.decode("utf-8", errors="replace").splitlines():
            target.info(line)
        offset += len(data)
        _runs.save_offset(run_dir, offset)
        return offset
