"""Running the command line in-process: ``resumable.cli.main``, the function behind the
``resumable`` console script, with its stdout and stderr captured."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resumable import _config
from resumable.cli import main
from resumable.tasks import _services
from tests.tasks.conftest import configure_tasks, gate  # noqa: F401  # fixtures reused here


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one ``Error:`` line of a user error (exit 1, nothing else, no traceback)."""
        assert self.code == 1, (self.code, self.out, self.err)
        assert "Traceback" not in self.err
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("Error: "), self.err
        return lines[0]


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """``cli("tasks", "list", …)`` runs the command line in this process."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
    # Commands configure the task framework; the next test starts from scratch.
    _services.shutdown(wait=True)
    _config.reset()


def entry_point() -> str:
    """The installed ``resumable`` console script."""
    beside = Path(sys.executable).with_name("resumable")
    found = str(beside) if beside.exists() else shutil.which("resumable")
    assert found, "the resumable console script is not installed (pip install -e .)"
    return found


def run_entry_point(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A real ``resumable`` process."""
    return subprocess.run(
        [entry_point(), *args],
        check=False,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
