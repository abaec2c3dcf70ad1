"""``resumable store …`` and ``resumable db migrate`` through the installed entry point.

Every call is a real ``resumable`` process. User errors must exit 1 with exactly one
line on stderr that starts with ``Error:``, and never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import resumable

pytestmark = pytest.mark.slow


def _entry_point() -> str:
    beside = Path(sys.executable).with_name("resumable")
    found = str(beside) if beside.exists() else shutil.which("resumable")
    assert found, "the resumable console script is not installed (pip install -e .)"
    return found


RESUMABLE = _entry_point()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RESUMABLE, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = run(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def fails(*args: str, env: dict[str, str] | None = None) -> str:
    """Run a command that must fail as a user error; return its one error line."""
    result = run(*args, env=env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert result.stdout == ""
    return lines[0]


def listed(url: str, namespace: str = "ns", scope: str = "run-1") -> dict[str, object]:
    return json.loads(ok("store", "list", "--url", url, "--json", namespace, scope))  # type: ignore[no-any-return]


# -- round trips ----------------------------------------------------------------------


def test_store_round_trip(database_url: str) -> None:
    url = database_url
    value = {"page": 7, "ids": [1, 2, None], "name": "ünï", "done": False, "error": None}
    assert ok("store", "set", "--url", url, "ns", "run-1", "cursor", json.dumps(value)) == ""
    ok("store", "set", "--url", url, "--retention", "never", "ns", "run-1", "job", '"j-1"')
    ok("store", "set", "--url", url, "--retention", "3600", "ns", "run-1", "n", "3")
    ok("store", "set", "--url", url, "--retention", "12h", "ns", "run-1", "n", "3")
    ok("store", "set", "--url", url, "--retention", "P7D", "ns", "run-1", "n", "3")
    ok("store", "set", "--url", url, "ns", "run-2", "other", "1")
    assert json.loads(ok("store", "get", "--url", url, "ns", "run-1", "cursor")) == value
    assert listed(url) == {"cursor": value, "job": "j-1", "n": 3}

    table = ok("store", "list", "--url", url, "ns", "run-1")
    for key in ("cursor", "job", "n"):
        assert key in table

    # The library sees what the command line wrote, and the other way round.
    with resumable.open_store(url) as store:
        assert store.scope("ns", "run-1").get("cursor") == value
        store.scope("ns", "run-1").set("from-library", [True])
    assert json.loads(ok("store", "get", "--url", url, "ns", "run-1", "from-library")) == [True]

    ok("store", "delete", "--url", url, "ns", "run-1", "cursor")
    ok("store", "delete", "--url", url, "ns", "run-1", "never-existed")
    assert sorted(listed(url)) == ["from-library", "job", "n"]
    ok("store", "delete", "--url", url, "--all", "ns", "run-1")
    assert listed(url) == {}
    assert listed(url, scope="run-2") == {"other": 1}  # --all clears one scope only


def test_purge_removes_expired_keys(database_url: str) -> None:
    url = database_url
    ok("store", "set", "--url", url, "--retention", "0.05", "ns", "run-1", "short", "1")
    ok("store", "set", "--url", url, "--retention", "never", "ns", "run-1", "kept", "2")
    deadline = time.monotonic() + 30
    while "short" in listed(url):  # expired keys read as missing once their time is up
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert ok("store", "purge", "--url", url).strip() == "purged 1 expired key"
    assert ok("store", "purge", "--url", url).strip() == "purged 0 expired keys"
    assert listed(url) == {"kept": 2}


def test_db_migrate(database_url: str) -> None:
    first = ok("db", "migrate", "--url", database_url)
    assert "applied" in first
    again = ok("db", "migrate", "--url", database_url)
    assert "already at schema version" in again
    # The migrated database is ready for the store.
    ok("store", "set", "--url", database_url, "ns", "run-1", "k", "1")


def test_default_url_from_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    ok("store", "set", "ns", "run-1", "k", '"env"', env={"RESUMABLE_STORE_URL": url})
    assert listed(url) == {"k": "env"}


def test_embedded_default_location(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"RESUMABLE_HOME": str(home)}
    ok("store", "set", "ns", "run-1", "k", "[1]", env=env)
    assert (home / "state.db").exists()
    assert json.loads(ok("store", "get", "ns", "run-1", "k", env=env)) == [1]


# -- user errors ----------------------------------------------------------------------


BAD_SETS = [
    (["k", "{bad"], "not valid JSON"),
    (["k", "null"], "top-level None"),
    (["k", "NaN"], "NaN"),
    (["k", "[1, Infinity]"], "inf"),
    (["", "1"], "must not be empty"),
    (["x" * 513, "1"], "limit is 512"),
]


def test_bad_values_and_keys_write_nothing(database_url: str) -> None:
    ok("store", "set", "--url", database_url, "ns", "run-1", "kept", "1")
    for args, message in BAD_SETS:
        line = fails("store", "set", "--url", database_url, "ns", "run-1", *args)
        assert message in line, (args, line)
    assert listed(database_url) == {"kept": 1}


def test_missing_key(database_url: str) -> None:
    ok("store", "set", "--url", database_url, "ns", "run-1", "other", "1")
    line = fails("store", "get", "--url", database_url, "ns", "run-1", "missing")
    assert "'missing' not found" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://nowhere/x", "unsupported store URL 'ftp://nowhere/x'"),
        ("postgresql://user:secret@127.0.0.1:1/db", "127.0.0.1:1"),
        ("redis://:secret@127.0.0.1:1/0", "127.0.0.1:1"),
        ("sqlite:////proc/no-such-dir/state.db", "/proc/no-such-dir"),
    ],
    ids=["unknown-scheme", "postgres-down", "redis-down", "sqlite-unwritable"],
)
def test_unusable_store_url(url: str, expected: str) -> None:
    for args in (
        ["store", "get", "--url", url, "ns", "run-1", "k"],
        ["store", "purge", "--url", url],
    ):
        line = fails(*args)
        assert expected in line
        assert "secret" not in line


@pytest.mark.parametrize(
    "url", ["ftp://nowhere/x", "redis://127.0.0.1:6379/0", "postgresql://u:secret@127.0.0.1:1/db"]
)
def test_db_migrate_unusable_url(url: str) -> None:
    line = fails("db", "migrate", "--url", url)
    assert "secret" not in line


USAGE_ERRORS = [
    (["store", "get"], "Missing argument"),
    (["store", "set", "ns", "run-1", "k"], "Missing argument 'VALUE_JSON'"),
    (["store", "frobnicate"], "No such command"),
    (["store", "list", "--bogus", "ns", "run-1"], "No such option"),
    (["--bogus"], "No such option"),
    (["store", "delete", "ns", "run-1"], "give either KEY or --all"),
    (["store", "delete", "--all", "ns", "run-1", "k"], "give either KEY or --all"),
    (["store", "set", "--retention", "soon", "ns", "run-1", "k", "1"], "'soon'"),
    (["store", "set", "--retention", "-5", "ns", "run-1", "k", "1"], "positive"),
    (["store", "set", "--retention", "nan", "ns", "run-1", "k", "1"], "positive"),
    (["store", "set", "--retention", "1e20", "ns", "run-1", "k", "1"], "too long"),
    (["store", "set", "--retention", "7x", "ns", "run-1", "k", "1"], "'7x' is not a duration"),
    # Every duration option reads the same forms and fails the same way (resumable/_time.py).
    (["tasks", "prune", "--older-than", "7x"], "Invalid value for '--older-than': '7x'"),
    (["tasks", "prune", "--older-than", "-1d"], "'-1d' is not a duration"),
    (["tasks", "prune", "--older-than", "1d", "--retention-days", "1"], "not both"),
    (["worker", "--retention", "soon"], "Invalid value for '--retention': 'soon'"),
    (["worker", "--lease", "0"], "'0' must be a positive duration"),
    (["worker", "--prune-every", "P"], "--prune-every"),
]


def test_usage_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    for args, expected in USAGE_ERRORS:
        line = fails(*args, env={"RESUMABLE_STORE_URL": url})
        assert expected in line, (args, line)
    assert not (tmp_path / "state.db").exists() or listed(url) == {}


def test_help_and_version_succeed() -> None:
    assert "store" in ok("--help")
    assert resumable.__version__ in ok("--version")
