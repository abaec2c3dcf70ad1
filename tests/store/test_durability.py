"""Durability you can see (issue 15, item 3): a Redis that keeps nothing on disk.

Opening a store on one warns once (StoreNotDurableWarning), ``require_durable=True``
makes it an error, ``require_durable=False`` acknowledges a volatile store. Private
servers (tests/private_redis.py) give each persistence setting.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import resumable
from resumable import StoreNotDurableError, StoreNotDurableWarning, StoreUnavailableError
from tests.private_redis import PERSISTENT, SNAPSHOTS_ONLY, VOLATILE, PrivateRedis

pytestmark = pytest.mark.slow


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., PrivateRedis]]:
    servers: list[PrivateRedis] = []

    def start(*options: str) -> PrivateRedis:
        directory = tmp_path / f"redis{len(servers)}"
        directory.mkdir()
        servers.append(PrivateRedis(directory, *options))
        return servers[-1]

    yield start
    for server in servers:
        server.kill()


def test_volatile_server_warns_once_naming_what_a_restart_loses(
    start_redis: Callable[..., PrivateRedis],
) -> None:
    server = start_redis(*VOLATILE)
    with pytest.warns(StoreNotDurableWarning) as caught:
        resumable.open_store(server.url).close()
        resumable.open_store(server.url).close()  # the same URL: no second warning
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "keeps nothing on disk" in message
    assert "every checkpoint, job record and attempt counter" in message
    assert "appendonly no" in message
    assert caught[0].filename == __file__  # points at the caller's open_store line


def test_volatile_server_with_require_durable_is_an_error(
    start_redis: Callable[..., PrivateRedis],
) -> None:
    server = start_redis(*VOLATILE)
    for opening in (
        lambda: resumable.open_store(server.url, require_durable=True),
        lambda: resumable.open_store(f"{server.url}?require_durable=true"),
        lambda: resumable.open_store(f"{server.url}?require_durable=false", require_durable=True),
    ):
        with pytest.raises(StoreNotDurableError, match="is not durable") as info:
            opening()
        assert isinstance(info.value, StoreUnavailableError)
        assert info.value.url is not None and str(server.port) in info.value.url


def test_acknowledged_volatile_store_neither_warns_nor_fails(
    start_redis: Callable[..., PrivateRedis],
) -> None:
    server = start_redis(*VOLATILE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for store in (
            resumable.open_store(server.url, require_durable=False),
            resumable.open_store(f"{server.url}?require_durable=false"),
        ):
            store.scope("ns", "run").set("k", 1)
            store.close()


def test_what_the_warning_says_is_true(start_redis: Callable[..., PrivateRedis]) -> None:
    server = start_redis(*VOLATILE)
    with resumable.open_store(server.url, require_durable=False) as store:
        store.scope("ns", "run").set("job", "j-1")
        server.kill()
        server.start()
        assert store.scope("ns", "run").get("job") is None  # lost with the restart


def test_persistent_server_is_durable(start_redis: Callable[..., PrivateRedis]) -> None:
    server = start_redis(*PERSISTENT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumable.open_store(server.url, require_durable=True).close()
        resumable.open_store(server.url).close()


def test_snapshots_only_do_not_warn_but_are_not_durable_enough_to_require(
    start_redis: Callable[..., PrivateRedis],
) -> None:
    server = start_redis(*SNAPSHOTS_ONLY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumable.open_store(server.url).close()
    with pytest.raises(StoreNotDurableError, match="since the last snapshot"):
        resumable.open_store(server.url, require_durable=True)


def test_config_get_refused_means_unknown(start_redis: Callable[..., PrivateRedis]) -> None:
    # Managed services rename or forbid CONFIG: no warning, but no guarantee either.
    server = start_redis(*VOLATILE, "--rename-command", "CONFIG", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumable.open_store(server.url).close()
    with pytest.raises(StoreNotDurableError, match="refused CONFIG GET"):
        resumable.open_store(server.url, require_durable=True)


@pytest.mark.parametrize("bad", ["maybe", "2"])
def test_bad_require_durable_in_the_url(start_redis: Callable[..., PrivateRedis], bad: str) -> None:
    server = start_redis(*PERSISTENT)
    with pytest.raises(StoreUnavailableError, match="require_durable must be true or false"):
        resumable.open_store(f"{server.url}?require_durable={bad}")


@pytest.mark.parametrize("bad", ["yes", 1, 0.0])
def test_bad_require_durable_argument(bad: object) -> None:
    with pytest.raises(resumable.InvalidValueError, match="require_durable"):
        resumable.open_store("memory://", require_durable=bad)  # type: ignore[arg-type]


def test_memory_store_is_never_durable() -> None:
    with pytest.raises(StoreNotDurableError, match="this process only"):
        resumable.open_store("memory://x", require_durable=True)
    resumable.open_store("memory://x", require_durable=False).close()


def test_sql_stores_are_durable(database_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumable.open_store(database_url, require_durable=True).close()
