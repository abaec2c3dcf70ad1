"""JSON null inside task payloads and task checkpoints round-trips (issue 9, item 1)."""

from __future__ import annotations

import pytest

from resumable import get_context, task

ANSWER = {"state": {"result_state": None, "life_cycle": "RUNNING"}, "runs": [None, {"id": None}]}


@pytest.mark.usefixtures("tasks_db")
def test_payload_with_nulls_at_depth_round_trips() -> None:
    @task
    def report() -> None:
        get_context().update_task(progress=(1, 2), payload={"answer": ANSWER, "none": None})

    t = report()
    assert t.status == "success"
    assert t.payload == {"answer": ANSWER, "none": None}
    t.refresh()
    assert t.payload == {"answer": ANSWER, "none": None}


@pytest.mark.usefixtures("tasks_db")
def test_checkpoint_with_nulls_survives_a_retry() -> None:
    seen: list[object] = []

    @task(retries=1)
    def flaky() -> None:
        ctx = get_context()
        before = ctx.store.get("answer")
        seen.append(before)
        if before is None:
            ctx.store.set("answer", ANSWER)
            ctx.store.update({"list": [None], "deep": {"a": [{"b": None}]}})
            raise RuntimeError("first attempt fails after its checkpoint")
        assert ctx.store.get("list") == [None]
        assert ctx.store.get("deep") == {"a": [{"b": None}]}

    t = flaky()
    assert t.status == "success", t.error_message
    assert seen == [None, ANSWER]
