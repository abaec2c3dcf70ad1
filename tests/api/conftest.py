"""A real uvicorn server per test, over the test's own database, and tokens for it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("fastapi", reason="the api extra is not installed")

import httpx
import uvicorn

import resumable
from resumable import _config
from resumable.api import create_app
from resumable.api._tokens import TokenStore
from resumable.tasks import _services

POLL = 0.05


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """uvicorn serving ``create_app()`` on a thread, on a free local port."""

    def __init__(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = threading.Event()
        for _ in range(400):
            if self._server.started:
                return
            deadline.wait(0.05)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


@dataclass
class Tokens:
    """Bearer tokens of the test's users."""

    alice: str
    bob: str
    carol: str
    admin: str
    store: TokenStore

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, who)}"}


@pytest.fixture
def configure_api(database_url: str) -> Iterator[Callable[..., _config.Settings]]:
    """Call with configure() keywords; the database is this test's own. Restores after."""

    def apply(**options: object) -> _config.Settings:
        options.setdefault("database_url", database_url)
        options.setdefault("abort_poll_interval", POLL)
        return resumable.configure(**options)  # type: ignore[arg-type]

    yield apply
    _services.shutdown(wait=True)
    _config.reset()


@pytest.fixture
def tasks_db(configure_api: Callable[..., _config.Settings]) -> _config.Settings:
    """The task framework on the test's database, thread executor, progress unthrottled."""
    return configure_api(progress_throttle=0)


@pytest.fixture
def tokens(tasks_db: _config.Settings) -> Iterator[Tokens]:
    store = TokenStore(tasks_db.database_url)
    yield Tokens(
        alice=store.create("alice"),
        bob=store.create("bob"),
        carol=store.create("carol"),
        admin=store.create("root", admin=True),
        store=store,
    )
    store.close()


@pytest.fixture
def server(tasks_db: _config.Settings) -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as opened:
        yield opened
