"""``resumable.testing``: helpers users test their own code with."""

from __future__ import annotations

from pathlib import Path

import pytest

import resumable
from resumable import _config
from resumable.testing import memory_store, task_framework


def test_memory_stores_are_private_and_real() -> None:
    first, second = memory_store(), memory_store()
    first.scope("ns", "run").set("k", 1)
    assert second.scope("ns", "run").get("k") is None
    with pytest.raises(resumable.InvalidValueError):
        first.scope("ns", "run").set("k", None)
    small = memory_store(max_value_bytes=10)
    with pytest.raises(resumable.ValueTooLargeError):
        small.scope("ns", "run").set("k", "x" * 20)


def test_task_framework_runs_inline_and_restores(tmp_path: Path) -> None:
    before = resumable.configure(database_url=f"sqlite:///{tmp_path / 'outer.db'}")

    @resumable.task(name="testing_helper_task")
    def add(a: int, b: int) -> None:
        resumable.get_context().update_task(payload={"sum": a + b})

    with task_framework() as settings:
        assert settings.executor == "inline"
        scheduled = add.schedule(2, 3)
        assert scheduled.status == "success"  # ran before schedule() returned
        assert scheduled.payload == {"sum": 5}
        assert settings.database_url != before.database_url
    assert _config.current_settings()[0] == before
    _config.reset()
