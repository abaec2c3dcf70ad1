"""The public checkpoint-store API as users write it, checked by mypy --strict, never run.

``assert_type`` pins the precise types users get; a ``# type: ignore[code]`` marks a
misuse that must stay a type error (mypy's warn_unused_ignores fails if it stops being
one). The file name has no ``test_`` prefix so pytest does not collect it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from typing_extensions import assert_type

import resumable
from resumable import (
    NEVER_EXPIRE,
    InvalidKeyError,
    InvalidValueError,
    ResumableError,
    StaleAttemptError,
    Store,
    StoreUnavailableError,
    TaskStateStore,
    ValueTooLargeError,
)


def checkpoints() -> None:
    store = resumable.open_store("sqlite:///state.db")
    assert_type(store, Store)
    assert_type(store.url, str)
    assert_type(resumable.open_store(), Store)
    assert_type(
        resumable.open_store(
            "memory://", max_value_bytes=2048, default_retention=timedelta(days=1)
        ),
        Store,
    )
    assert_type(resumable.open_store("memory://", default_retention=NEVER_EXPIRE), Store)
    assert_type(resumable.open_store("memory://", default_retention=None), Store)

    ts = store.scope("daily_export", "2026-11-21")
    assert_type(ts, TaskStateStore)
    assert_type(store.scope(namespace="daily_export", scope_key="2026-11-21"), TaskStateStore)
    assert_type(resumable.default_store_url(), str)
    assert_type(ts.namespace, str)
    assert_type(ts.scope_key, str)
    assert_type(ts.attempt, "int | None")

    ts.set("cursor", {"page": 7})
    ts.set("job_id", "j-1", retention=timedelta(hours=6))
    ts.set("job_id", "j-1", retention=NEVER_EXPIRE)
    ts.set("job_id", "j-1", retention=None)
    assert_type(ts.get("cursor"), Any)
    assert_type(ts.get("missing", default=0), Any)
    assert_type(ts.get("missing", 0), Any)
    values: dict[str, object] = {"a": 1, "b": [1, 2]}
    ts.update(values)
    ts.update({"a": 1}, retention=timedelta(minutes=5))
    assert_type(ts.keys(), list[str])
    assert_type(ts.delete("a"), None)
    assert_type(ts.clear(), None)
    assert_type(store.purge_expired(), int)

    fenced = ts.new_attempt()
    assert_type(fenced, TaskStateStore)
    assert_type(fenced.attempt, "int | None")

    with resumable.open_store("memory://") as scoped_store:
        assert_type(scoped_store, Store)
    store.close()

    # Misuse that must stay a type error.
    ts.set(1, "x")  # type: ignore[arg-type]
    ts.set("k", 1, timedelta(hours=1))  # type: ignore[call-arg]
    ts.set("k", 1, retention=30)  # type: ignore[arg-type]
    store.scope("only-namespace")  # type: ignore[call-overload]
    store.scope("ns", "run", key="run")  # type: ignore[call-overload]
    resumable.open_store("memory://", 1024)  # type: ignore[call-arg]
    ts.keys().append(3)  # type: ignore[arg-type]


async def async_checkpoints(ts: TaskStateStore) -> None:
    assert_type(await ts.aget("cursor"), Any)
    assert_type(await ts.aget("cursor", default={}), Any)
    assert_type(await ts.aset("cursor", {"page": 8}), None)
    assert_type(await ts.aset("k", 1, retention=NEVER_EXPIRE), None)
    assert_type(await ts.aupdate({"a": 1}), None)
    assert_type(await ts.akeys(), list[str])
    assert_type(await ts.adelete("a"), None)
    assert_type(await ts.aclear(), None)
    fenced = await ts.anew_attempt()
    assert_type(fenced, TaskStateStore)
    assert_type(await fenced.aset("cursor", 1), None)


async def async_store() -> None:
    async with resumable.open_store("memory://") as store:
        assert_type(store, Store)
        assert_type(await store.apurge_expired(), int)
    assert_type(await resumable.open_store("memory://").aclose(), None)


def errors(ts: TaskStateStore) -> None:
    try:
        ts.set("k", None)
    except ValueTooLargeError as exc:
        assert_type(exc.size, int)
        assert_type(exc.limit, int)
        assert_type(exc.key, "str | None")
    except InvalidValueError as exc:
        assert_type(exc.key, "str | None")
        assert isinstance(exc, ValueError)
    except InvalidKeyError as exc:
        assert_type(exc.key, Any)
    except StaleAttemptError as exc:
        assert_type(exc.attempt, int)
        assert_type(exc.current, int)
        assert_type(exc.namespace, str)
        assert_type(exc.scope_key, str)
    except StoreUnavailableError as exc:
        assert_type(exc.url, "str | None")
        assert isinstance(exc, ConnectionError)
    except ResumableError:
        pass


def accepts_any_task_state_store(ts: TaskStateStore) -> list[str]:
    """Code written against the Protocol accepts the store's own handles."""
    return ts.keys()


def protocol_users() -> None:
    accepts_any_task_state_store(resumable.open_store("memory://").scope("ns", "run"))
