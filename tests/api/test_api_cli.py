"""``resumable api`` and ``resumable api token create|revoke`` as real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import _free_port
from tests.workers.harness import eventually

pytestmark = pytest.mark.slow

RESUMABLE = [sys.executable, "-c", "from resumable.cli import run; run()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RESUMABLE, *args], check=False, capture_output=True, text=True, timeout=120
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def test_tokens_are_shown_once_and_revoked(database_url: str, tmp_path: Path) -> None:
    made = run("api", "token", "create", "alice", "--database-url", database_url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("rsm_") and len(token) > 40
    assert "shown only this once" in made.stderr
    admin = run("api", "token", "create", "root", "--admin", "--database-url", database_url)
    assert admin.returncode == 0 and "admin" in admin.stderr

    with _serve(database_url, tmp_path) as server:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{server}/health").json() == {"status": "ok"}
        assert httpx.get(f"{server}/api/v1/task/", headers=headers).status_code == 200
        revoked = run("api", "token", "revoke", "alice", "--database-url", database_url)
        assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
        assert httpx.get(f"{server}/api/v1/task/", headers=headers).status_code == 401
    again = run("api", "token", "revoke", "alice", "--database-url", database_url)
    assert "has no token" in _one_error_line(again)


@pytest.mark.parametrize("user", ["", "   ", "x" * 256])
def test_a_bad_user_name_is_one_error_line(database_url: str, user: str) -> None:
    done = run("api", "token", "create", user, "--database-url", database_url)
    assert "user must be a non-empty name" in _one_error_line(done)


@contextmanager
def _serve(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``resumable api`` on a free port, stopped with SIGTERM at the end."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "api.log").open("w") as log:
        process = subprocess.Popen(
            [*RESUMABLE, "api", "--port", str(port), "--database-url", database_url],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:

            def up() -> bool:
                try:
                    return httpx.get(f"{url}/health", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            assert eventually(up), (tmp_path / "api.log").read_text()
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
