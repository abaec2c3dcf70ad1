"""On Airflow 3.3+, resumable's mixin and store satisfy the task SDK's own types.

Airflow's ``ResumableJobMixin`` is a concrete class and its task state store
(``context["task_state_store"]``) a concrete accessor class, neither a ``Protocol`` nor
an ABC, so an ``isinstance`` check against them cannot hold for a class that does not
inherit their code. The checks here are structural, in both directions where it
matters: every public member of Airflow's type exists on ours and accepts every call
Airflow's accepts; and Airflow's store is a ``resumable.jobs.KeyValueStore`` (a runtime
checkable protocol), so the mixin runs on it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

import resumable
from resumable.jobs import KeyValueStore

sdk = pytest.importorskip("airflow.sdk", reason="Airflow 3's task SDK is not installed here")
pytestmark = pytest.mark.skipif(
    not hasattr(sdk, "ResumableJobMixin"),
    reason="this task SDK has no ResumableJobMixin (Airflow < 3.3)",
)
# The accessor class is not exported by airflow.sdk; its module is where Context's
# annotation points. Tests may look there; resumable itself does not.
TaskStateStoreAccessor: Any = getattr(
    importlib.import_module("airflow.sdk.execution_time.context"), "TaskStateStoreAccessor", None
)

P = inspect.Parameter
POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)


def call_mismatches(ours: Any, theirs: Any) -> list[str]:
    """How a call that ``theirs`` accepts could fail on ``ours`` (empty: none can)."""
    mine = inspect.signature(ours).parameters
    their = inspect.signature(theirs).parameters
    var_keyword = any(p.kind is P.VAR_KEYWORD for p in mine.values())
    var_positional = any(p.kind is P.VAR_POSITIONAL for p in mine.values())
    mine_positional = [p for p in mine.values() if p.kind in POSITIONAL]
    problems = []
    for index, (name, param) in enumerate(their.items()):
        if param.kind in POSITIONAL:
            if index < len(mine_positional):
                here = mine_positional[index].name
                if param.kind is P.POSITIONAL_OR_KEYWORD and here != name:
                    problems.append(f"parameter {index} is {here}, not {name}")
                if param.default is not P.empty and mine_positional[index].default is P.empty:
                    problems.append(f"{name} is optional there, required here")
            elif not var_positional:
                problems.append(f"no positional parameter {index} ({name})")
        elif param.kind is P.KEYWORD_ONLY:
            if name not in mine and not var_keyword:
                problems.append(f"no keyword {name}")
            elif name in mine and param.default is not P.empty and mine[name].default is P.empty:
                problems.append(f"{name} is optional there, required here")
    variadic = (P.VAR_POSITIONAL, P.VAR_KEYWORD)
    required = {n for n, p in mine.items() if p.default is P.empty and p.kind not in variadic}
    problems += [f"{n} is required here only" for n in sorted(required - set(their))]
    return problems


def public_members(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_"))


def test_our_mixin_offers_everything_airflows_mixin_does() -> None:
    theirs, ours = sdk.ResumableJobMixin, resumable.ResumableJobMixin

    missing = [name for name in public_members(theirs) if not hasattr(ours, name)]
    assert missing == []
    mismatched = {
        name: problems
        for name in [*public_members(theirs), "__init__"]
        if callable(getattr(theirs, name))
        and (problems := call_mismatches(getattr(ours, name), getattr(theirs, name)))
    }
    assert mismatched == {}
    assert ours.external_id_key == theirs.external_id_key == "remote_job_id"


def test_our_store_offers_everything_airflows_store_does() -> None:
    theirs = TaskStateStoreAccessor
    ours = type(resumable.open_store("memory://sdk-types").scope("ns", "key"))

    missing = [name for name in public_members(theirs) if not hasattr(ours, name)]
    assert missing == []
    mismatched = {
        name: problems
        for name in public_members(theirs)
        if (problems := call_mismatches(getattr(ours, name), getattr(theirs, name)))
    }
    assert mismatched == {}


def test_airflows_store_is_a_store_our_mixin_runs_on() -> None:
    assert issubclass(TaskStateStoreAccessor, KeyValueStore)
    assert isinstance(TaskStateStoreAccessor(_ti(), _scope()), KeyValueStore)
    assert isinstance(resumable.open_store("memory://sdk-types").scope("a", "b"), KeyValueStore)


def test_the_mismatch_check_sees_a_difference() -> None:
    def theirs(self: Any, key: str, value: Any, *, retention: Any = None) -> None: ...
    def ours(self: Any, key: str, *, value: Any) -> None: ...

    assert call_mismatches(ours, theirs) != []
    assert call_mismatches(theirs, theirs) == []


def _ti() -> Any:
    import uuid

    return uuid.uuid4()


def _scope() -> Any:
    return None  # the accessor only keeps it; nothing here calls the supervisor
