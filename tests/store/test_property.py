"""Generated values and keys, on every backend (hypothesis).

Valid ones round-trip exactly (same types, not just ``==``: ``True`` must not come back
as ``1``); invalid ones raise the typed error and write nothing.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import resumable
from resumable import InvalidKeyError, InvalidValueError, Store, ValueTooLargeError

# -- strategies -----------------------------------------------------------------------

# Values: any text (NUL included: JSON escapes it), no lone surrogates (not Unicode).
value_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
json_leaves = st.one_of(
    value_text,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
# Below the top, None is JSON null: ordinary data, at any depth.
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children | st.none(), max_size=5)
        | st.dictionaries(value_text, children | st.none(), max_size=5)
    ),
    max_leaves=25,
)


def _wrap(inner: Any, path: list[tuple[bool, str]]) -> Any:
    """``inner`` nested inside lists (True) and dicts (False, with the given key)."""
    for in_list, name in reversed(path):
        inner = [inner] if in_list else {name: inner}
    return inner


# A JSON null at a random depth (1 to 40 levels down), inside other values.
null_paths = st.lists(st.tuples(st.booleans(), value_text), min_size=1, max_size=40)
values_with_deep_null = st.builds(
    _wrap, st.one_of(st.none(), st.lists(st.none() | json_leaves, max_size=3)), null_paths
)

# Keys: 1-512 characters of any Unicode text but NUL and lone surrogates, with separators
# (":", "|", "/") over-represented since backends build composite keys from them.
key_characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
valid_keys = st.one_of(
    st.text(key_characters, min_size=1, max_size=512),
    st.text(st.sampled_from(":|/\\ aé€😀\t\n"), min_size=1, max_size=20),
    st.text(key_characters, min_size=500, max_size=512),
)


def _with_inserted(text: str, insert: str, where: int) -> str:
    where %= len(text) + 1
    return text[:where] + insert + text[where:]


invalid_keys = st.one_of(
    st.just(""),
    st.text(key_characters, min_size=513, max_size=600),
    st.builds(_with_inserted, st.text(key_characters, max_size=30), st.just("\x00"), st.integers()),
    st.builds(
        _with_inserted,
        st.text(key_characters, max_size=30),
        st.characters(categories=["Cs"]),
        st.integers(),
    ),
    st.integers(),
    st.binary(min_size=1, max_size=10),
    st.none(),
    st.tuples(st.text(min_size=1, max_size=5)),
)

bad_leaves = st.one_of(
    st.just(math.nan),
    st.sampled_from([math.inf, -math.inf]),
    st.tuples(json_leaves),
    st.frozensets(st.integers(), max_size=3),
    st.sets(st.integers(), max_size=3),
    st.binary(max_size=5),
    st.builds(object),
    st.builds(Decimal, st.integers()),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.dictionaries(st.integers(), json_leaves, min_size=1, max_size=2),
    st.builds(
        _with_inserted,
        value_text,
        st.characters(categories=["Cs"]),
        st.integers(),
    ),
)


def _in_list(items: list[Any], bad: Any, where: int) -> list[Any]:
    where %= len(items) + 1
    return [*items[:where], bad, *items[where:]]


def _in_dict(items: dict[str, Any], name: str, bad: Any) -> dict[str, Any]:
    return {**items, name: bad}


# A valid JSON structure with exactly one bad thing buried somewhere inside it, or a
# top-level None (None below the top is JSON null, which is valid).
invalid_values = st.none() | st.recursive(
    bad_leaves,
    lambda inner: (
        st.builds(_in_list, st.lists(json_values, max_size=3), inner, st.integers())
        | st.builds(
            _in_dict, st.dictionaries(value_text, json_values, max_size=3), value_text, inner
        )
    ),
    max_leaves=6,
)

# -- helpers --------------------------------------------------------------------------

EXAMPLES = {"memory": 60, "sqlite": 60, "postgres": 25, "redis": 25}


def _backend(url: str) -> str:
    if url.startswith("postgresql"):
        return "postgres"
    return url.split(":", 1)[0]


def _property(url: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings for ``url``'s backend: fewer examples on servers."""
    return settings(
        max_examples=EXAMPLES[_backend(url)],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _identical(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``1 == True`` does not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    return bool(a == b)


def _fresh_scope(store: Store) -> resumable.TaskStateStore:
    return store.scope("prop", uuid.uuid4().hex)


# -- valid input round-trips ----------------------------------------------------------


def test_valid_values_round_trip_exactly(store: Store, store_url: str) -> None:
    @_property(store_url)
    @given(value=json_values, other=json_values)
    @example(value={"\x00": "a\x00b", "n": [True, 1, 1.0, -0.0]}, other=[[{}], ""])
    def check(value: Any, other: Any) -> None:
        scope = _fresh_scope(store)
        scope.set("v", value)
        assert _identical(scope.get("v"), value)
        scope.update({"a": other, "b": value})
        assert _identical(scope.get("a"), other)
        assert _identical(scope.get("b"), value)

    check()


def test_nulls_at_random_depths_round_trip(store: Store, store_url: str) -> None:
    @_property(store_url)
    @given(value=values_with_deep_null, other=json_values)
    @example(value={"state": {"result_state": None}}, other=[None, {"a": None}])
    def check(value: Any, other: Any) -> None:
        scope = _fresh_scope(store)
        scope.set("v", value)
        assert _identical(scope.get("v"), value)
        scope.update({"a": other, "b": value})
        assert _identical(scope.get("a"), other)
        assert _identical(scope.get("b"), value)
        fenced = scope.new_attempt()
        fenced.set("f", value)
        assert _identical(scope.get("f"), value)

    check()


def test_valid_keys_round_trip_exactly(store: Store, store_url: str) -> None:
    @_property(store_url)
    @given(names=st.lists(valid_keys, min_size=1, max_size=4, unique=True))
    def check(names: list[str]) -> None:
        scope = _fresh_scope(store)
        scope.update({name: index for index, name in enumerate(names)})
        assert scope.keys() == sorted(names)
        for index, name in enumerate(names):
            assert scope.get(name) == index
        scope.delete(names[0])
        assert scope.keys() == sorted(names[1:])

    check()


def test_valid_scope_names_round_trip_exactly(store: Store, store_url: str) -> None:
    @_property(store_url)
    @given(namespace=valid_keys, scope_key=valid_keys, name=valid_keys)
    # Three 512-character keys of 4-byte text: 6 KiB, over PostgreSQL's btree row limit.
    @example(namespace="😀" * 512, scope_key="語" * 512, name="𝄞" * 512)
    @example(namespace="a:b", scope_key="c", name=":")
    @example(namespace="a", scope_key="b:c", name=":")
    def check(namespace: str, scope_key: str, name: str) -> None:
        token = uuid.uuid4().hex  # the same names may come up again in a later example
        scope = store.scope(namespace, scope_key)
        scope.set(name, token)
        assert scope.get(name) == token
        assert name in scope.keys()
        fenced = scope.new_attempt()
        fenced.set(name, [token])
        assert store.scope(namespace, scope_key).get(name) == [token]
        fenced.clear()
        assert scope.keys() == []

    check()


def test_size_limit_is_the_encoded_size(store_url: str) -> None:
    with resumable.open_store(store_url, max_value_bytes=64) as small:

        @_property(store_url)
        @given(value=json_values)
        def check(value: Any) -> None:
            scope = _fresh_scope(small)
            import json

            size = len(
                json.dumps(
                    value, ensure_ascii=False, sort_keys=True, separators=(",", ":")
                ).encode()
            )
            if size <= 64:
                scope.set("v", value)
                assert _identical(scope.get("v"), value)
            else:
                with pytest.raises(ValueTooLargeError) as info:
                    scope.set("v", value)
                assert info.value.size == size
                assert scope.keys() == []

        check()


# -- invalid input raises and writes nothing ------------------------------------------


def test_invalid_values_raise_and_write_nothing(store: Store, store_url: str) -> None:
    @_property(store_url)
    @given(bad=invalid_values, good=json_values)
    def check(bad: Any, good: Any) -> None:
        scope = _fresh_scope(store)
        scope.set("k", "before")
        with pytest.raises(InvalidValueError) as info:
            scope.set("k", bad)
        assert info.value.key == "k"
        with pytest.raises(InvalidValueError):
            scope.update({"a": good, "k": bad, "z": good})
        with pytest.raises(InvalidValueError):
            scope.new_attempt().set("other", bad)
        assert scope.keys() == ["k"]
        assert scope.get("k") == "before"

    check()


def test_invalid_keys_raise_and_write_nothing(store: Store, store_url: str) -> None:
    @_property(store_url)
    @given(bad=invalid_keys)
    def check(bad: Any) -> None:
        scope = _fresh_scope(store)
        scope.set("kept", 1)
        for call in (
            lambda: scope.set(bad, 1),
            lambda: scope.get(bad),
            lambda: scope.delete(bad),
            lambda: scope.update({"fine": 2, bad: 3}),
            lambda: store.scope(bad, "run"),
            lambda: store.scope("prop", bad),
        ):
            with pytest.raises(InvalidKeyError):
                call()
        assert scope.keys() == ["kept"]
        assert scope.get("kept") == 1

    check()
