"""The checkpoint store's contract (shared/API.md §1), on every backend."""

from __future__ import annotations

import asyncio
import pickle
import time
from datetime import timedelta

import pytest

import resumable
from resumable import (
    NEVER_EXPIRE,
    InvalidKeyError,
    InvalidValueError,
    StaleAttemptError,
    Store,
    StoreUnavailableError,
    TaskStateStore,
    ValueTooLargeError,
)

NESTED = {"page": 7, "items": [1, 2.5, "x", True, {"deep": [[], {}]}], "ünï": "cødé"}


def test_round_trip_nested_json(store: Store) -> None:
    ts = store.scope("daily_export", "2026-11-21")
    ts.set("cursor", NESTED)
    assert ts.get("cursor") == NESTED
    assert isinstance(ts, TaskStateStore)


def test_json_null_inside_values_round_trips(store: Store) -> None:
    ts = store.scope("ns", "nulls")
    answer = {"state": {"result_state": None, "life_cycle": "RUNNING"}, "tags": [None, 1]}
    ts.set("run", answer)
    assert ts.get("run") == answer
    ts.update({"a": [None], "b": {"x": [{"y": None}]}})
    assert ts.get("a") == [None]
    assert ts.get("b") == {"x": [{"y": None}]}
    fenced = ts.new_attempt()
    fenced.set("f", {"n": None})
    assert ts.get("f") == {"n": None}


def test_top_level_none_is_still_refused(store: Store) -> None:
    ts = store.scope("ns", "nulls")
    with pytest.raises(InvalidValueError, match="top-level None"):
        ts.set("k", None)
    with pytest.raises(InvalidValueError):
        ts.update({"a": 1, "k": None})
    assert ts.keys() == []


def test_missing_key_returns_default(store: Store) -> None:
    ts = store.scope("ns", "run")
    assert ts.get("missing") is None
    assert ts.get("missing", default=0) == 0
    assert ts.get("missing", 0) == 0


def test_set_overwrites(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.set("k", 1)
    ts.set("k", [2])
    assert ts.get("k") == [2]


def test_scopes_are_isolated(store: Store) -> None:
    a = store.scope("ns", "run-a")
    b = store.scope("ns", "run-b")
    other_ns = store.scope("ns2", "run-a")
    a.set("k", "a")
    b.set("k", "b")
    other_ns.set("k", "c")
    assert (a.get("k"), b.get("k"), other_ns.get("k")) == ("a", "b", "c")
    a.clear()
    assert a.keys() == []
    assert b.get("k") == "b"
    assert other_ns.get("k") == "c"


def test_scope_names_with_separators_do_not_collide(store: Store) -> None:
    store.scope("a:b", "c").set("k", 1)
    store.scope("a", "b:c").set("k", 2)
    assert store.scope("a:b", "c").get("k") == 1
    assert store.scope("a", "b:c").get("k") == 2


def test_keys_sorted_and_delete(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.update({"b": 1, "a": 2, "c": 3})
    assert ts.keys() == ["a", "b", "c"]
    ts.delete("b")
    ts.delete("never-existed")
    assert ts.keys() == ["a", "c"]


def test_update_is_all_or_nothing(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.set("a", 0)
    with pytest.raises(InvalidValueError):
        ts.update({"a": 1, "b": float("nan"), "c": 3})
    assert ts.keys() == ["a"]
    assert ts.get("a") == 0
    with pytest.raises(InvalidKeyError):
        ts.update({"a": 1, "": 2})
    assert ts.get("a") == 0


@pytest.mark.parametrize(
    "bad",
    [
        None,
        float("nan"),
        float("inf"),
        -float("inf"),
        {1, 2},
        b"bytes",
        # repr(object()) holds an address: a fixed id, so every xdist worker collects
        # the same test ids.
        pytest.param(object(), id="object()"),
        (1, 2),
        {1: "int key"},
        {"ok": [float("inf")]},
        {"ok": {"deeper": float("nan")}},
    ],
    ids=repr,
)
def test_invalid_values_raise_and_write_nothing(store: Store, bad: object) -> None:
    ts = store.scope("ns", "run")
    ts.set("k", "before")
    with pytest.raises(InvalidValueError) as info:
        ts.set("k", bad)
    assert "'k'" in str(info.value)
    assert info.value.key == "k"
    assert ts.get("k") == "before"
    with pytest.raises(InvalidValueError):
        ts.set("other", bad)
    assert ts.keys() == ["k"]


@pytest.mark.parametrize("bad", ["", "x" * 513, 5, None, b"k"], ids=repr)
def test_invalid_keys_raise_and_write_nothing(store: Store, bad: object) -> None:
    ts = store.scope("ns", "run")
    with pytest.raises(InvalidKeyError):
        ts.set(bad, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        ts.get(bad)  # type: ignore[arg-type]
    assert ts.keys() == []


def test_key_of_512_characters_is_fine(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.set("k" * 512, 1)
    assert ts.get("k" * 512) == 1


@pytest.mark.parametrize("bad", ["", "x" * 513, 3])
def test_invalid_scope_names(store: Store, bad: object) -> None:
    with pytest.raises(InvalidKeyError):
        store.scope(bad, "run")  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        store.scope("ns", bad)  # type: ignore[arg-type]


def test_value_too_large(store_url: str) -> None:
    with resumable.open_store(store_url, max_value_bytes=100) as small:
        ts = small.scope("ns", "run")
        ts.set("fits", "x" * 98)  # 100 bytes with the quotes
        with pytest.raises(ValueTooLargeError) as info:
            ts.set("big", "x" * 99)
        assert info.value.size == 101
        assert info.value.limit == 100
        assert isinstance(info.value, InvalidValueError)
        # multi-byte characters count in bytes, not characters
        with pytest.raises(ValueTooLargeError):
            ts.set("big", "é" * 60)
        assert ts.keys() == ["fits"]


def test_default_limit_is_one_mebibyte(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.set("fits", "x" * (1024 * 1024 - 2))
    with pytest.raises(ValueTooLargeError):
        ts.set("big", "x" * (1024 * 1024 - 1))


def test_retention_expiry_and_purge(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.set("short", 1, retention=timedelta(milliseconds=50))
    ts.set("forever", 2, retention=NEVER_EXPIRE)
    ts.set("default", 3)
    assert ts.keys() == ["default", "forever", "short"]
    time.sleep(0.1)
    assert ts.get("short") is None
    assert ts.get("short", "gone") == "gone"
    assert ts.keys() == ["default", "forever"]
    assert store.purge_expired() == 1
    assert store.purge_expired() == 0
    assert ts.keys() == ["default", "forever"]


def test_rewriting_with_longer_retention_keeps_key(store: Store) -> None:
    ts = store.scope("ns", "run")
    ts.set("k", 1, retention=timedelta(milliseconds=50))
    ts.set("k", 2, retention=NEVER_EXPIRE)
    time.sleep(0.1)
    assert store.purge_expired() == 0
    assert ts.get("k") == 2


def test_default_retention_setting(store_url: str) -> None:
    with resumable.open_store(store_url, default_retention=timedelta(milliseconds=50)) as short:
        ts = short.scope("ns", "run")
        ts.set("k", 1)
        ts.set("kept", 1, retention=NEVER_EXPIRE)
        time.sleep(0.1)
        assert ts.keys() == ["kept"]


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(seconds=-1), 30, "1d"])
def test_invalid_retention(store: Store, bad: object) -> None:
    ts = store.scope("ns", "run")
    with pytest.raises(InvalidValueError):
        ts.set("k", 1, retention=bad)  # type: ignore[arg-type]
    assert ts.keys() == []


def test_reopen_sees_what_was_written(store_url: str) -> None:
    with resumable.open_store(store_url) as first:
        first.scope("ns", "run").set("cursor", {"page": 3})
    with resumable.open_store(store_url) as second:
        assert second.scope("ns", "run").get("cursor") == {"page": 3}


def test_fencing_in_one_process(store: Store) -> None:
    plain = store.scope("ns", "run")
    old = plain.new_attempt()
    new = store.scope("ns", "run").new_attempt()
    assert plain.attempt is None
    assert new.attempt is not None and old.attempt is not None
    assert new.attempt > old.attempt
    new.set("owner", "new")
    for write in (
        lambda: old.set("owner", "zombie"),
        lambda: old.update({"owner": "zombie", "x": 1}),
        lambda: old.delete("owner"),
        old.clear,
    ):
        with pytest.raises(StaleAttemptError) as info:
            write()
        assert info.value.attempt == old.attempt
        assert info.value.current == new.attempt
    assert old.get("owner") == "new"  # reads stay allowed
    assert new.keys() == ["owner"]
    plain.set("unfenced", 1)  # plain handles are not fenced
    new.set("still", "mine")


def test_attempts_are_per_scope(store: Store) -> None:
    a1 = store.scope("ns", "a").new_attempt()
    b1 = store.scope("ns", "b").new_attempt()
    b2 = store.scope("ns", "b").new_attempt()
    a1.set("k", 1)  # b's new attempt does not fence a
    assert (a1.attempt, b1.attempt, b2.attempt) == (1, 1, 2)


async def test_async_methods(store: Store) -> None:
    ts = store.scope("ns", "run")
    await ts.aset("cursor", {"page": 1})
    assert await ts.aget("cursor") == {"page": 1}
    assert await ts.aget("missing", default=5) == 5
    await ts.aupdate({"a": 1})
    await ts.adelete("cursor")
    assert ts.keys() == ["a"]
    await ts.aclear()
    assert ts.keys() == []
    results = await asyncio.gather(*(ts.aset(f"k{i}", i) for i in range(10)))
    assert results == [None] * 10
    assert len(ts.keys()) == 10


def test_unknown_scheme() -> None:
    with pytest.raises(StoreUnavailableError, match="ftp://nowhere"):
        resumable.open_store("ftp://nowhere")


@pytest.mark.parametrize(
    "url",
    ["postgresql://user:secret@127.0.0.1:1/test", "redis://:secret@127.0.0.1:1/0"],
)
def test_unreachable_server(url: str) -> None:
    with pytest.raises(StoreUnavailableError) as info:
        resumable.open_store(url)
    assert "127.0.0.1:1" in str(info.value)
    assert "secret" not in str(info.value)
    assert isinstance(info.value, ConnectionError)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_invalid_max_value_bytes(bad: object) -> None:
    with pytest.raises(InvalidValueError):
        resumable.open_store("memory://", max_value_bytes=bad)  # type: ignore[arg-type]


def test_embedded_default(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    with resumable.open_store() as default:
        assert default.url.startswith("sqlite:///")
        default.scope("ns", "run").set("k", 1)
    monkeypatch.setenv("RESUMABLE_STORE_URL", "memory://from-env")
    with resumable.open_store() as from_env:
        assert from_env.url == "memory://from-env"


def test_errors_pickle_with_their_fields() -> None:
    errors = [
        InvalidValueError("bad", "k"),
        ValueTooLargeError("big", "k", 10, 5),
        InvalidKeyError("bad key", ""),
        StaleAttemptError("ns", "run", 1, 2),
        StoreUnavailableError("down", "redis://x"),
        resumable.TaskNotFoundError("u-1"),
        resumable.PermissionDeniedError("no", "u-1"),
        resumable.TaskNotAbortableError("u-1"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.__dict__ == error.__dict__
        assert isinstance(copy, resumable.ResumableError)
    assert pickle.loads(pickle.dumps(NEVER_EXPIRE)) is NEVER_EXPIRE


def test_closed_store_refuses_use(store_url: str) -> None:
    opened = resumable.open_store(store_url)
    ts = opened.scope("ns", "run")
    ts.set("k", 1)
    opened.close()
    if store_url.startswith(("sqlite", "postgresql")):
        with pytest.raises(StoreUnavailableError, match="closed"):
            ts.get("k")
        with pytest.raises(StoreUnavailableError, match="closed"):
            ts.set("k", 2)
