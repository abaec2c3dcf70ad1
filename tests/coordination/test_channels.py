"""Push channels and PushSignals against real Redis and PostgreSQL servers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable.coordination._pg_notify import PostgresNotifyChannel
from resumable.coordination._push import PushSignals
from resumable.coordination._redis_streams import RedisStreamChannel
from tests.conftest import make_url, require_server

DEADLINE = 10.0


class Heard:
    """Collects what a channel delivers, with events to wait on."""

    def __init__(self) -> None:
        self.uuids: list[str] = []
        self.reconnects = 0
        self._changed = threading.Condition()

    def on_signal(self, task_uuid: str) -> None:
        with self._changed:
            self.uuids.append(task_uuid)
            self._changed.notify_all()

    def on_reconnect(self) -> None:
        with self._changed:
            self.reconnects += 1
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool]) -> bool:
        with self._changed:
            return self._changed.wait_for(condition, DEADLINE)


def _open_channel(kind: str, tmp_path: Path) -> tuple[Any, Any]:
    url, cleanup = make_url("redis" if kind == "redis" else "postgres", tmp_path)
    channel = RedisStreamChannel(url) if kind == "redis" else PostgresNotifyChannel(url)
    return channel, cleanup


@pytest.fixture(params=["redis", "postgres"])
def channel_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A listening channel and a second, publishing one on the same server and namespace."""
    if request.param == "postgres":
        _needs_psycopg3()
    url, cleanup = make_url("redis" if request.param == "redis" else "postgres", tmp_path)
    kind = RedisStreamChannel if request.param == "redis" else PostgresNotifyChannel
    listener, publisher = kind(url), kind(url)
    yield listener, publisher
    listener.close()
    publisher.close()
    cleanup()  # type: ignore[operator]


def test_published_uuids_arrive_in_order(channel_pair: tuple[Any, Any]) -> None:
    listener, publisher = channel_pair
    heard = Heard()
    listener.start(heard.on_signal, heard.on_reconnect)
    assert listener.wait_connected(DEADLINE)
    sent = [str(uuid.uuid4()) for _ in range(20)]
    for task_uuid in sent:
        publisher.publish(task_uuid)
    assert heard.wait_until(lambda: len(heard.uuids) >= len(sent))
    assert heard.uuids == sent
    assert heard.reconnects == 1  # the first connect wakes waiters too


def test_namespaces_do_not_hear_each_other(tmp_path: Path) -> None:
    require_server("redis")
    first, cleanup_first = _open_channel("redis", tmp_path)
    second, cleanup_second = _open_channel("redis", tmp_path)
    heard = Heard()
    first.start(heard.on_signal, heard.on_reconnect)
    assert first.wait_connected(DEADLINE)
    second.publish("elsewhere")
    first.publish("here")
    assert heard.wait_until(lambda: "here" in heard.uuids)
    assert "elsewhere" not in heard.uuids
    for channel in (first, second):
        channel.close()
    cleanup_first()
    cleanup_second()


def _needs_psycopg3() -> None:
    # LISTEN/NOTIFY is built on psycopg 3; psycopg2-only installs (Airflow 2 with
    # SQLAlchemy 1.4) poll instead, which build_signals chooses by itself.
    pytest.importorskip("psycopg", reason="LISTEN/NOTIFY needs psycopg 3")


def test_postgres_listener_reconnects_after_its_connection_is_killed(tmp_path: Path) -> None:
    _needs_psycopg3()
    require_server("postgres")
    listener, cleanup = _open_channel("postgres", tmp_path)
    heard = Heard()
    listener.start(heard.on_signal, heard.on_reconnect)
    assert listener.wait_connected(DEADLINE)
    import psycopg

    with psycopg.connect(autocommit=True, **listener._conninfo) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query = %s AND pid <> pg_backend_pid()",
            (f'LISTEN "{listener.channel}"',),
        ).fetchall()
    assert killed
    assert heard.wait_until(lambda: heard.reconnects >= 2)
    listener.publish("after-reconnect")
    assert heard.wait_until(lambda: "after-reconnect" in heard.uuids)
    listener.close()
    cleanup()  # type: ignore[operator]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test's own, so stopping it disturbs nobody else."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_redis_outage_falls_back_to_polling_and_recovers(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path)
    server.start()
    status = {"t1": "in_progress", "t2": "in_progress"}
    signals = PushSignals(status.get, interval=0.3, channel=RedisStreamChannel(server.url))
    remote = RedisStreamChannel(server.url)
    try:
        signals.listen()
        assert signals.channel.wait_connected(DEADLINE)  # type: ignore[attr-defined]
        # Push: a remote publish wakes the waiter long before the polling interval.
        assert _pushed(signals, remote, status, "t1", "aborting") < signals.interval

        server.kill()
        deadline = time.monotonic() + DEADLINE
        while signals.channel.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not signals.channel.connected
        # Outage: notify() must not raise, and waiters still see changes by polling.
        waiter = _wait_in_thread(signals, "t2")
        status["t2"] = "aborting"
        signals.notify("t2")
        assert waiter.join_result() == "aborting"

        server.start()
        assert _eventually(lambda: signals.channel.connected)
        status["t1"] = "in_progress"
        waiter = _wait_in_thread(signals, "t1")
        time.sleep(0.1)
        status["t1"] = "aborted"
        remote.publish("t1")
        assert waiter.join_result() == "aborted"
    finally:
        signals.close()
        remote.close()
        server.kill()


class _Waiter(threading.Thread):
    def __init__(self, signals: PushSignals, task_uuid: str) -> None:
        super().__init__(daemon=True)
        self.signals, self.task_uuid, self.result = signals, task_uuid, "unset"

    def run(self) -> None:
        self.result = str(self.signals.wait_for(self.task_uuid, {"aborting", "aborted"}, DEADLINE))

    def join_result(self) -> str:
        self.join(DEADLINE + 1)
        return self.result


def _pushed(
    signals: PushSignals, remote: Any, status: dict[str, str], task_uuid: str, becomes: str
) -> float:
    """Seconds from a remote publish of ``task_uuid`` (its status now ``becomes``) to
    the return of a waiter that was already waiting."""
    waiter = _wait_in_thread(signals, task_uuid)
    time.sleep(0.1)
    status[task_uuid] = becomes
    published = time.monotonic()
    remote.publish(task_uuid)
    assert waiter.join_result() == becomes
    return time.monotonic() - published


def _wait_in_thread(signals: PushSignals, task_uuid: str) -> _Waiter:
    waiter = _Waiter(signals, task_uuid)
    waiter.start()
    return waiter


def _eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_a_process_that_never_waits_never_listens(kind: str, tmp_path: Path) -> None:
    if kind == "postgres":
        _needs_psycopg3()
    channel, cleanup = _open_channel(kind, tmp_path)
    signals = PushSignals({"t": "in_progress"}.get, interval=30, channel=channel)
    try:
        signals.notify("t")  # publishing needs no listener
        time.sleep(0.2)
        assert not channel.connected
        assert channel._listener is None
    finally:
        signals.close()
        cleanup()  # type: ignore[operator]


def test_the_first_wait_subscribes_and_misses_nothing(channel_pair: tuple[Any, Any]) -> None:
    """A change made and published between a waiter's first read and the listener's
    subscription is found by the re-read every waiter makes once subscribed: long
    before the polling interval (30 s here)."""
    channel, remote = channel_pair
    status = {"t": "in_progress"}
    first_read = threading.Event()

    def read(task_uuid: str) -> str | None:
        found = status.get(task_uuid)
        if not first_read.is_set():
            first_read.set()
            # Right after the waiter's first read, while its listener is connecting.
            status["t"] = "aborting"
            remote.publish("t")
        return found

    signals = PushSignals(read, interval=30, channel=channel)
    try:
        started = time.monotonic()
        assert signals.wait_for("t", {"aborting"}, DEADLINE) == "aborting"
        assert time.monotonic() - started < DEADLINE / 2
        assert channel.wait_connected(DEADLINE)  # listening from the first wait on
        # Later signals are pushed to this process's waiters as before.
        status["t"] = "in_progress"
        assert _pushed(signals, remote, status, "t", "aborted") < DEADLINE / 2
    finally:
        signals.close()


def test_close_before_any_wait_starts_no_listener(tmp_path: Path) -> None:
    channel, cleanup = _open_channel("redis", tmp_path)
    signals = PushSignals({}.get, interval=30, channel=channel)
    signals.close()
    signals.listen()  # after close: a no-op, no thread left behind
    assert channel._listener is None
    cleanup()  # type: ignore[operator]
