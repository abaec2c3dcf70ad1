"""One depth limit for values (issue 15, item 4), on every backend.

Values nested up to ``MAX_DEPTH`` levels are stored and read back, one level more is
refused with ``InvalidValueError`` (subclasses of list and dict count like their
bases), and both work from deep inside the caller's own recursion.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from resumable import InvalidValueError, Store
from resumable.store._backend import Item, Scope
from resumable.store._values import MAX_DEPTH

T = TypeVar("T")


class MyList(list):  # type: ignore[type-arg]
    pass


class MyDict(dict):  # type: ignore[type-arg]
    pass


def nested(depth: int, kinds: tuple[Callable[[Any], Any], ...] = (lambda v: [v],)) -> Any:
    """A value ``depth`` containers deep, the containers cycling through ``kinds``."""
    value: Any = "leaf"
    for level in range(depth):
        value = kinds[level % len(kinds)](value)
    return value


SHAPES = {
    "lists": (lambda v: [v],),
    "dicts": (lambda v: {"k": v},),
    "mixed-with-null": (lambda v: [None, v], lambda v: {"n": None, "k": v}),
    "subclasses": (lambda v: MyList([v]), lambda v: MyDict(k=v)),
}


def from_deep_stack(call: Callable[[], T], spare: int = 30) -> T:
    """Run ``call`` with the stack ``spare`` frames short of the recursion limit."""

    def descend(frames_left: int) -> T:
        if frames_left <= 0:
            return call()
        return descend(frames_left - 1)

    here = len(_frames())
    return descend(sys.getrecursionlimit() - here - spare)


def _frames() -> list[Any]:
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def plain(value: Any) -> Any:
    """``value`` as json would read it back (subclasses become their bases)."""
    return json.loads(json.dumps(value))


def test_the_limit_is_well_within_the_recursion_limit() -> None:
    assert MAX_DEPTH == 100
    assert sys.getrecursionlimit() >= MAX_DEPTH * 5


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_at_the_limit_stored_one_more_refused(store: Store, shape: str) -> None:
    ts = store.scope("depth", shape)
    at_limit = nested(MAX_DEPTH, SHAPES[shape])
    ts.set("ok", at_limit)
    assert ts.get("ok") == plain(at_limit)
    too_deep = nested(MAX_DEPTH + 1, SHAPES[shape])
    with pytest.raises(InvalidValueError, match=f"more than {MAX_DEPTH} levels deep") as info:
        ts.set("deep", too_deep)
    assert info.value.key == "deep"
    with pytest.raises(InvalidValueError):
        ts.update({"fine": 1, "deep": too_deep})
    with pytest.raises(InvalidValueError):
        ts.new_attempt().set("deep", too_deep)
    assert ts.keys() == ["ok"]


def test_from_a_deep_call_stack(store: Store) -> None:
    ts = store.scope("depth", "stack")
    for shape, kinds in SHAPES.items():
        at_limit = nested(MAX_DEPTH, kinds)
        from_deep_stack(lambda: ts.set(shape, at_limit))  # noqa: B023 (called at once)
        assert from_deep_stack(lambda: ts.get(shape)) == plain(at_limit)  # noqa: B023
        with pytest.raises(InvalidValueError, match="levels deep"):
            from_deep_stack(lambda: ts.set("deep", nested(MAX_DEPTH + 1, kinds)))  # noqa: B023
    assert ts.keys() == sorted(SHAPES)


def test_far_too_deep_and_cyclic_values_are_refused(store: Store) -> None:
    ts = store.scope("depth", "far")
    cycle: list[Any] = []
    cycle.append(cycle)
    for bad in (nested(50_000), cycle):
        with pytest.raises(InvalidValueError, match="levels deep"):
            ts.set("bad", bad)
    assert ts.keys() == []


def test_deeper_values_stored_before_the_limit_still_read_back(store: Store) -> None:
    # Before the limit, set() accepted values up to ~990 levels deep: they stay readable,
    # even from a deep call stack.
    old = nested(sys.getrecursionlimit() - 50)
    scope = Scope("depth", "old")
    store._backend.write(scope, [Item("old", json.dumps(old), None)], None)
    ts = store.scope("depth", "old")
    assert ts.get("old") == old
    assert from_deep_stack(lambda: ts.get("old")) == old
