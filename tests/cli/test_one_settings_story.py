"""One rule for where things live, the same for the API and every command.

The task database is ``RESUMABLE_DATABASE_URL``, else the embedded file; the checkpoint
store is ``RESUMABLE_STORE_URL``, else the task database. ``resumable db migrate``
migrates exactly those, and says which. Commands run as real ``resumable`` processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import resumable
from resumable._config import build_settings
from resumable._db.engine import open_database
from resumable.migrations import SCHEMA_VERSION, current_version
from tests.conftest import make_url

pytestmark = pytest.mark.slow

_BESIDE = Path(sys.executable).with_name("resumable")
RESUMABLE = str(_BESIDE) if _BESIDE.exists() else shutil.which("resumable") or "resumable"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only the settings given: none of the developer's RESUMABLE_* variables leak in.
    base = {k: v for k, v in os.environ.items() if not k.startswith("RESUMABLE_")}
    return subprocess.run(
        [RESUMABLE, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **env},
    )


def ok(*args: str, env: dict[str, str]) -> str:
    result = run(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def _version(url: str) -> int:
    database = open_database(url)
    try:
        return current_version(database)
    finally:
        database.dispose()


def _with_password(url: str) -> str:
    # The test server trusts local connections, so any password is accepted: enough to
    # see that it never reaches the output.
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@", 1)


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    url, cleanup = make_url("postgres", tmp_path)
    yield url
    cleanup()  # type: ignore[operator]


def test_migrate_with_only_the_database_url_migrates_that_database(
    postgres_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    url = _with_password(postgres_url)
    assert "s3cret" in url
    env = {"RESUMABLE_HOME": str(home), "RESUMABLE_DATABASE_URL": url}
    out = ok("db", "migrate", env=env)
    assert out.startswith("task database and checkpoint store postgresql://postgres:***@")
    assert "applied" in out
    assert "s3cret" not in out
    assert _version(postgres_url) == SCHEMA_VERSION
    assert not (home / "state.db").exists(), "the embedded file was migrated instead"
    again = ok("db", "migrate", env=env)
    assert f"already at schema version {SCHEMA_VERSION}" in again
    # The other commands use the same database: a checkpoint written by `store set`
    # and the tasks of `tasks prune` land there, never in the embedded file.
    ok("store", "set", "ns", "run-1", "k", "1", env=env)
    with resumable.open_store(postgres_url) as store:
        assert store.scope("ns", "run-1").get("k") == 1
    ok("tasks", "prune", env=env)
    assert not (home / "state.db").exists()


def test_migrate_a_separate_sql_store_too(postgres_url: str, tmp_path: Path) -> None:
    store_file = tmp_path / "checkpoints.db"
    env = {
        "RESUMABLE_HOME": str(tmp_path / "home"),
        "RESUMABLE_DATABASE_URL": postgres_url,
        "RESUMABLE_STORE_URL": f"sqlite:///{store_file}",
    }
    lines = ok("db", "migrate", env=env).splitlines()
    assert lines[0].startswith("task database postgresql://")
    assert lines[1].startswith(f"checkpoint store sqlite:///{store_file}: applied")
    assert _version(postgres_url) == _version(f"sqlite:///{store_file}") == SCHEMA_VERSION


def test_migrate_skips_a_store_that_is_not_sql(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"RESUMABLE_HOME": str(home), "RESUMABLE_STORE_URL": "redis://:pw@127.0.0.1:1/0"}
    lines = ok("db", "migrate", env=env).splitlines()
    assert lines[0] == (
        "checkpoint store redis://:***@127.0.0.1:1/0: not a SQL database, nothing to migrate"
    )
    assert lines[1].startswith(f"task database sqlite:///{home / 'state.db'}: applied")


def test_explicit_url_migrates_only_that_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = f"sqlite:///{tmp_path / 'given.db'}"
    out = ok("db", "migrate", "--database-url", target, env={"RESUMABLE_HOME": str(home)})
    assert out.startswith(f"database {target}: applied")
    assert not (home / "state.db").exists()
    refused = run("db", "migrate", "--url", "redis://127.0.0.1:6379/0", env={})
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: unsupported database URL")


def test_store_commands_follow_the_database_url(tmp_path: Path) -> None:
    tasks_db = f"sqlite:///{tmp_path / 'tasks.db'}"
    env = {"RESUMABLE_HOME": str(tmp_path / "home"), "RESUMABLE_DATABASE_URL": tasks_db}
    ok("store", "set", "ns", "run-1", "k", '"shared"', env=env)
    assert run("store", "get", "ns", "run-1", "k", env=env).stdout.strip() == '"shared"'
    with resumable.open_store(tasks_db) as store:
        assert store.scope("ns", "run-1").get("k") == "shared"


def test_open_store_default_follows_the_same_rule(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = Path(os.environ["RESUMABLE_HOME"])
    monkeypatch.delenv("RESUMABLE_DATABASE_URL", raising=False)
    assert resumable.default_store_url() == f"sqlite:///{home / 'state.db'}"
    tasks_db = f"sqlite:///{tmp_path / 'tasks.db'}"
    monkeypatch.setenv("RESUMABLE_DATABASE_URL", tasks_db)
    assert resumable.default_store_url() == tasks_db
    with resumable.open_store() as store:
        assert store.url == tasks_db
    assert build_settings().database_url == tasks_db
    monkeypatch.setenv("RESUMABLE_STORE_URL", "memory://own")  # the store's own wins
    with resumable.open_store() as store:
        assert store.url == "memory://own"
    assert build_settings().database_url == tasks_db


def test_migrate_refuses_what_would_not_outlive_it(tmp_path: Path) -> None:
    for env, option in [
        ({"RESUMABLE_STORE_URL": "memory://x"}, "$RESUMABLE_STORE_URL"),
        ({"RESUMABLE_DATABASE_URL": "sqlite://"}, "$RESUMABLE_DATABASE_URL"),
    ]:
        result = run("db", "migrate", env={"RESUMABLE_HOME": str(tmp_path / "home"), **env})
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and option in lines[0]
    assert not (tmp_path / "home" / "state.db").exists()
