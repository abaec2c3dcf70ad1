"""Every store method has an async twin, on every backend, and none blocks the event loop.

Also the scope's naming: ``store.scope(namespace, scope_key)`` hands out a handle whose
``.namespace`` and ``.scope_key`` are those two arguments; the old keyword ``key=``
still works for one release, with a DeprecationWarning.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

import resumable
from resumable import StaleAttemptError, Store


async def test_every_scope_method_has_a_working_twin(store: Store) -> None:
    ts = store.scope("ns", "run")
    await ts.aset("b", 2)
    await ts.aupdate({"a": 1, "c": [3]})
    assert await ts.akeys() == ["a", "b", "c"]
    assert await ts.aget("c") == [3]
    await ts.adelete("b")
    assert await ts.akeys() == ["a", "c"]
    await ts.aclear()
    assert await ts.akeys() == []


async def test_fenced_handles_have_the_twins_too(store: Store) -> None:
    scope = store.scope("ns", "fenced")
    first = await scope.anew_attempt()
    await first.aset("cursor", 1)
    assert await first.akeys() == ["cursor"]
    second = await scope.anew_attempt()
    assert second.attempt is not None and first.attempt is not None
    assert second.attempt > first.attempt
    for write in (
        first.aset("cursor", 99),
        first.aupdate({"cursor": 99}),
        first.adelete("cursor"),
        first.aclear(),
    ):
        with pytest.raises(StaleAttemptError):
            await write
    assert await second.aget("cursor") == 1  # reads stay allowed, nothing changed
    assert await first.aget("cursor") == 1


async def test_store_twins_and_async_context_manager(store_url: str) -> None:
    async with resumable.open_store(store_url) as store:
        ts = store.scope("ns", "run")
        await ts.aset("short", 1, retention=timedelta(milliseconds=20))
        await ts.aset("kept", 2)
        await asyncio.sleep(0.1)
        assert await store.apurge_expired() == 1
        assert await ts.akeys() == ["kept"]
    again = resumable.open_store(store_url)
    await again.aclose()


async def test_twins_leave_the_event_loop_free(tmp_path: Path) -> None:
    # Another connection holds SQLite's write lock, so the write below waits for it.
    # Only a coroutine on the same loop releases the lock: if aset blocked the loop,
    # the release would never run and the write would time out.
    path = tmp_path / "locked.db"
    with resumable.open_store(f"sqlite:///{path}") as store:
        ts = store.scope("ns", "run")
        ts.set("k", 0)  # tables exist before the lock is taken
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def release() -> None:
            nonlocal ticks
            for _ in range(5):
                await asyncio.sleep(0.05)
                ticks += 1
            holder.execute("COMMIT")

        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(ts.aset("k", 1), release()), timeout=20)
        holder.close()
        assert ticks == 5
        assert time.monotonic() - started < 20
        assert ts.get("k") == 1


def test_scope_key_is_one_word(store: Store) -> None:
    positional = store.scope("export", "2026-11-21")
    keyword = store.scope(namespace="export", scope_key="2026-11-21")
    assert (positional.namespace, positional.scope_key) == ("export", "2026-11-21")
    positional.set("cursor", 7)
    assert keyword.get("cursor") == 7
    with pytest.raises(TypeError, match="scope_key"):
        store.scope("export")  # type: ignore[call-arg]


def test_old_key_keyword_still_works_with_a_warning(store: Store) -> None:
    store.scope("export", "run-1").set("cursor", 1)
    with pytest.deprecated_call(match="scope_key"):
        old = store.scope("export", key="run-1")
    assert old.scope_key == "run-1"
    assert old.get("cursor") == 1
    with pytest.raises(TypeError, match="both"):
        store.scope("export", "run-1", key="run-1")


async def test_a_tasks_ctx_store_has_the_twins(tmp_path: Path) -> None:
    # ctx.store is a fenced handle, wrapped to refuse writes once its lease is lost:
    # the wrapper offers every twin too.
    from resumable import _config
    from resumable.tasks import _services

    resumable.configure(database_url=f"sqlite:///{tmp_path / 'tasks.db'}", executor="thread")
    try:

        @resumable.task(name=f"async-twins-{tmp_path.name}")
        async def checkpointed() -> list[str]:
            store = resumable.get_context().store
            await store.aupdate({"a": 1, "b": 2})
            await store.adelete("b")
            assert store.attempt is not None
            return await store.akeys()

        done = await asyncio.to_thread(checkpointed)
        assert (done.status, done.result) == ("success", ["a"])
    finally:
        _services.shutdown(wait=True)
        _config.reset()
