"""``resumable doctor`` through the installed entry point, healthy and broken.

On SQLite, PostgreSQL and Redis (a private redis-server for the persistent case): exit 0
with every check listed when healthy, exit 1 with the failing check named when broken,
and never a traceback. The pure judgements (filesystems, skew, lease) are tested
directly below.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import resumable
from resumable.cli._checks import (
    FAIL,
    OK,
    WARN,
    filesystem_of,
    lease_check,
    skew_check,
    sqlite_filesystem_check,
)
from tests.cli.test_store_cli import RESUMABLE
from tests.conftest import REDIS_URL, require_server
from tests.private_redis import PERSISTENT, PrivateRedis

pytestmark = pytest.mark.slow


def doctor(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESUMABLE_HOME": str(home)}
    env.pop("RESUMABLE_DATABASE_URL", None)
    result = subprocess.run(
        [RESUMABLE, "doctor", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Traceback" not in result.stderr + result.stdout
    return result


def line(result: subprocess.CompletedProcess[str], label: str) -> str:
    """The report line of the check ``label`` ("store persistence", ...)."""
    found = [text for text in result.stdout.splitlines() if label in text]
    assert found, (label, result.stdout)
    return found[0]


def migrated(url: str) -> str:
    resumable.open_store(url).close()  # creates the tables at the current version
    return url


def set_schema_version(url: str, version: int) -> None:
    from sqlalchemy import update

    from resumable._db.engine import open_database
    from resumable.migrations.schema import schema_version

    database = open_database(url)  # its schema_translate_map finds the test's schema
    with database.tx.begin() as conn:
        conn.execute(update(schema_version).values(version=version))
    database.dispose()


def test_healthy_sql_store(database_url: str, tmp_path: Path) -> None:
    url = migrated(database_url)
    result = doctor("--url", url, "--database-url", url, home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert line(result, "store schema version").startswith("ok")
    assert line(result, "store clock skew").startswith("ok")
    assert line(result, "settings lease").startswith("ok")
    assert "0 failed" in result.stdout
    if url.startswith("sqlite"):
        assert line(result, "store filesystem").startswith("ok")


def test_schema_newer_than_this_release_fails(database_url: str, tmp_path: Path) -> None:
    url = migrated(database_url)
    set_schema_version(url, 10_000)
    result = doctor("--url", url, "--database-url", url, home=tmp_path)
    assert result.returncode == 1
    assert line(result, "store schema version").startswith("FAIL")
    assert "upgrade resumable" in line(result, "store schema version")


def test_task_database_is_checked_separately(database_url: str, tmp_path: Path) -> None:
    store = migrated(f"sqlite:///{tmp_path / 'store.db'}")
    result = doctor("--url", store, "--database-url", database_url, home=tmp_path)
    assert result.returncode == 0, result.stdout
    assert line(result, "task database schema version").startswith("WARN")  # not created yet
    assert line(result, "task database clock skew").startswith("ok")


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/test", "redis://127.0.0.1:1/0?retry_seconds=0.2"],
)
def test_unreachable_store_fails_in_one_line(url: str, tmp_path: Path) -> None:
    result = doctor(
        "--url",
        url,
        "--database-url",
        url if "postgres" in url else f"sqlite:///{tmp_path / 't.db'}",
        home=tmp_path,
    )
    assert result.returncode == 1
    assert line(result, "store reachable").startswith("FAIL")
    assert "Connection refused" in line(result, "store reachable")


def test_volatile_redis_warns_and_fails_when_durability_is_required(tmp_path: Path) -> None:
    require_server("redis")
    url = f"{REDIS_URL}?prefix=doctor-{os.getpid()}:"
    result = doctor("--url", url, home=tmp_path)
    assert result.returncode == 0, result.stdout
    persistence = line(result, "store persistence")
    assert persistence.startswith("WARN")
    assert "loses everything" in persistence
    assert line(result, "store clock skew").startswith("ok")
    assert result.stderr == ""  # the doctor reports it; no second, Python-style warning
    strict = doctor("--url", url, "--strict", home=tmp_path)
    assert strict.returncode == 1
    required = doctor("--url", url, "--require-durable", home=tmp_path)
    assert required.returncode == 1
    assert line(required, "store persistence").startswith("FAIL")


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = PrivateRedis(directory, *PERSISTENT)
    yield server
    server.kill()


def test_persistent_redis_is_healthy(persistent_redis: PrivateRedis, tmp_path: Path) -> None:
    result = doctor("--url", persistent_redis.url, "--require-durable", home=tmp_path)
    assert result.returncode == 0, result.stdout
    assert line(result, "store persistence").startswith("ok")
    assert "appendonly yes" in line(result, "store persistence")


def test_sqlite_in_memory_filesystem_warns(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or filesystem_of(shm, Path("/proc/mounts").read_text())[1] != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm here")
    path = shm / f"resumable-doctor-{os.getpid()}.db"
    try:
        url = migrated(f"sqlite:///{path}")
        result = doctor("--url", url, "--database-url", url, home=tmp_path)
        assert result.returncode == 0
        assert line(result, "store filesystem").startswith("WARN")
        assert "a reboot loses it" in line(result, "store filesystem")
        assert (
            doctor("--url", url, "--database-url", url, "--strict", home=tmp_path).returncode == 1
        )
    finally:
        path.unlink(missing_ok=True)


def test_bad_usage_is_one_error_line(tmp_path: Path) -> None:
    result = doctor("--bogus", home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("Error:") and len(result.stderr.splitlines()) == 1


# -- the judgements themselves ------------------------------------------------------------

MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /mnt/shared nfs4 rw,relatime 0 0
tmpfs /mnt/shared/scratch tmpfs rw 0 0
//host/share /mnt/smb\\040share cifs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/home/me/state.db", OK),
        ("/mnt/shared/state.db", FAIL),
        ("/mnt/shared/deeper/dir/state.db", FAIL),
        ("/mnt/shared/scratch/state.db", WARN),
        ("/mnt/smb share/state.db", FAIL),
        ("/mnt/sharedother/state.db", OK),
    ],
)
def test_sqlite_filesystem_judgement(tmp_path: Path, path: str, status: str) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    check = sqlite_filesystem_check("store", f"sqlite:///{path}", str(mounts))
    assert check.status == status, check


def test_skew_judgement() -> None:
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert skew_check("store", now, now, now, 30).status == OK
    assert skew_check("store", now + timedelta(seconds=2), now, now, 30).status == WARN
    assert skew_check("store", now - timedelta(seconds=15), now, now, 30).status == FAIL
    naive = (now + timedelta(seconds=0.2)).replace(tzinfo=None)  # PostgreSQL without tz
    assert skew_check("store", naive, now, now, 30).status == OK


def test_lease_judgement() -> None:
    assert lease_check(10, 30).status == OK
    assert lease_check(10, 25).status == WARN


def test_schema_version_of_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = migrated(f"sqlite:///{tmp_path / 's.db'}")
    with sqlite3.connect(tmp_path / "s.db") as conn:
        (version,) = conn.execute("SELECT version FROM resumable_schema_version").fetchone()
    from resumable.migrations import SCHEMA_VERSION

    assert version == SCHEMA_VERSION
    result = doctor("--url", url, "--database-url", url, home=tmp_path)
    assert f"schema version {SCHEMA_VERSION}" in line(result, "store schema version")
