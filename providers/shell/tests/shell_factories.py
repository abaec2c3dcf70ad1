"""Jobs for the shell tests, built at module level so check_job's child processes can
build them too (``functools.partial`` binds the run folder)."""

from __future__ import annotations

import sys

from resumable_providers.shell.jobs import ShellJob


def python_command(code: str) -> list[str]:
    """A command running ``code`` in a fresh Python (no shell quoting to get wrong)."""
    return [sys.executable, "-c", code]


def sleeper(run_root: str, seconds: float = 5.0) -> ShellJob:
    """Prints, sleeps ``seconds``, prints again, exits 0."""
    code = f"import time; print('begin', flush=True); time.sleep({seconds}); print('end')"
    return ShellJob(python_command(code), run_root=run_root, poll_interval=0.1, cancel_grace=3)


def failing(run_root: str) -> ShellJob:
    """Exits 3 after a moment."""
    code = "import sys, time; time.sleep(0.3); print('boom'); sys.exit(3)"
    return ShellJob(python_command(code), run_root=run_root, poll_interval=0.1)
