"""Shared fixtures: real servers, one isolated schema / key prefix per test.

PostgreSQL and Redis come from RESUMABLE_TEST_POSTGRES_URL / RESUMABLE_TEST_REDIS_URL
(default: the local servers). A server that does not answer skips its tests with the
reason, except under CI=true, where it fails them.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get(
    "RESUMABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VOLATILE = "require_durable=false"  # see make_url

STORE_BACKENDS = ["memory", "sqlite", "postgres", "redis"]
SQL_BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never touch the developer's real embedded database from a test.
    monkeypatch.setenv("RESUMABLE_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("RESUMABLE_STORE_URL", raising=False)
    # Also a default of open_store() (after RESUMABLE_STORE_URL), so a shell's setting
    # must not redirect the tests that use the embedded default.
    monkeypatch.delenv("RESUMABLE_DATABASE_URL", raising=False)


@functools.cache
def _unreachable(name: str) -> str | None:
    """Why the server is unusable, or None when it answers."""
    try:
        if name == "postgres":
            import sqlalchemy

            from resumable._db.engine import open_database

            database = open_database(POSTGRES_URL)
            with database.auto.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
            database.dispose()
        elif name == "redis":
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:  # any failure means: not usable here
        return f"{name} at {POSTGRES_URL if name == 'postgres' else REDIS_URL}: {exc}"
    return None


def require_server(name: str) -> None:
    """Skip (or under CI fail) the calling test when server ``name`` does not answer."""
    reason = _unreachable(name)
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs every server; unreachable: {reason}")
    pytest.skip(f"server not reachable: {reason}")


def _drop_postgres_schema(schema: str) -> None:
    import sqlalchemy

    from resumable._db.engine import open_database

    database = open_database(POSTGRES_URL)
    with database.auto.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    database.dispose()


def _delete_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _with_query(url: str, **params: str) -> str:
    joiner = "&" if "?" in url else "?"
    return url + joiner + "&".join(f"{k}={v}" for k, v in params.items())


def make_url(backend: str, tmp_path: Path) -> tuple[str, object]:
    """A fresh URL for ``backend`` and a cleanup callable."""
    token = uuid.uuid4().hex[:12]
    if backend == "memory":
        return f"memory://test-{token}", lambda: None
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'state-{token}.db'}", lambda: None
    if backend == "postgres":
        require_server("postgres")
        schema = f"t_{token}"
        return _with_query(POSTGRES_URL, schema=schema), lambda: _drop_postgres_schema(schema)
    if backend == "redis":
        require_server("redis")
        prefix = f"t:{token}:"
        # The shared test server keeps nothing on disk (save "", appendonly no): the
        # tests say so explicitly instead of hiding the warning users get for it.
        url = _with_query(REDIS_URL, prefix=prefix, require_durable="false")
        return url, lambda: _delete_redis_prefix(prefix)
    raise ValueError(backend)


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, isolated checkpoint store on each backend."""
    url, cleanup = make_url(request.param, tmp_path)
    yield url
    cleanup()  # type: ignore[operator]


@pytest.fixture(params=[b for b in STORE_BACKENDS if b != "memory"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like ``store_url``, but only backends other processes can reach too."""
    url, cleanup = make_url(request.param, tmp_path)
    yield url
    cleanup()  # type: ignore[operator]


@pytest.fixture(params=SQL_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, isolated SQL database (SQLite file or PostgreSQL schema)."""
    url, cleanup = make_url(request.param, tmp_path)
    yield url
    cleanup()  # type: ignore[operator]


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    import resumable

    opened = resumable.open_store(store_url)
    yield opened
    opened.close()
