"""Task.result: the return value, stored as canonical JSON in the task row."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import resumable
from resumable import task
from resumable.tasks import _services


@pytest.mark.usefixtures("tasks_db")
def test_a_direct_call_returns_its_result() -> None:
    @task
    def total(values: list[int]) -> dict[str, Any]:
        return {"sum": sum(values), "items": values, "note": None}

    t = total([1, 2, 3])
    assert t.status == "success"
    assert t.result == {"sum": 6, "items": [1, 2, 3], "note": None}
    # The row is the truth: any reader (another process) gets the same value.
    assert resumable.get_task(t.uuid).result == t.result


@pytest.mark.usefixtures("tasks_db")
def test_nothing_returned_reads_as_none() -> None:
    @task
    def quiet() -> None:
        return None

    assert quiet().result is None


@pytest.mark.usefixtures("tasks_db")
def test_a_scheduled_task_result_is_none_until_it_succeeds() -> None:
    @task
    def answer() -> int:
        return 42

    t = answer.schedule()
    assert t.result is None or t.status == "success"
    assert t.wait(timeout=20).result == 42


@pytest.mark.parametrize("executor", ["inline", "thread"])
def test_async_task_results(configure_tasks: Any, executor: str) -> None:
    configure_tasks(executor=executor)

    @task
    async def fetch(n: int) -> list[int]:
        await asyncio.sleep(0)
        return list(range(n))

    assert fetch(3).result == [0, 1, 2]
    assert fetch.schedule(2).wait(timeout=20).result == [0, 1]

    async def from_a_loop() -> Any:
        t = fetch.schedule(4)
        return (await t.await_done(timeout=20)).result

    assert asyncio.run(from_a_loop()) == [0, 1, 2, 3]


@pytest.mark.usefixtures("tasks_db")
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({1, 2}, "is a set"),
        (float("nan"), "NaN"),
        ((1, 2), "use a list"),
        ({1: "a"}, "dict key"),
        ("x" * (1024 * 1024 + 1), "bytes encoded"),
    ],
    ids=["set", "nan", "tuple", "int-key", "too-large"],
)
def test_an_unstorable_result_fails_the_task_with_the_reason(value: object, why: str) -> None:
    @task(retries=2)  # never retried: storing it again would fail the same way
    def bad() -> object:
        return value

    t = bad()
    assert t.status == "failure" and t.attempt == 1
    assert t.result is None
    assert "return value cannot be stored" in (t.error_message or "")
    assert why in (t.error_message or "")
    assert t.exception_type in ("InvalidValueError", "ValueTooLargeError")


@pytest.mark.usefixtures("tasks_db")
def test_too_deep_a_result_fails_the_task() -> None:
    deep: list[Any] = []
    for _ in range(150):
        deep = [deep]

    @task
    def nested() -> object:
        return deep

    t = nested()
    assert t.status == "failure" and "nested more than" in (t.error_message or "")


@pytest.mark.usefixtures("tasks_db")
def test_the_result_is_canonical_json_in_the_row() -> None:
    @task
    def unordered() -> dict[str, int]:
        return {"b": 2, "a": 1}

    t = unordered()
    from sqlalchemy import select

    from resumable.migrations.schema import tasks

    database = _services.current().repository.database
    with database.auto.connect() as conn:
        stored = conn.execute(select(tasks.c.result).where(tasks.c.uuid == t.uuid)).scalar()
    assert stored == '{"a":1,"b":2}'
