"""The value and option types: built checked, keyword-only, frozen (attrs)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import resumable
from resumable import TaskOptions
from resumable._config import Settings
from resumable.jobs._decision import JobRecord
from resumable.tasks._models import Progress


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout": -1},
        {"timeout": 0},
        {"timeout": float("inf")},
        {"timeout": "10"},
        {"timeout": True},
        {"kill_after": -0.5},
        {"task_key": ""},
        {"task_name": 3},
    ],
)
def test_task_options_are_checked_when_built(bad: dict[str, Any]) -> None:
    with pytest.raises(resumable.ConfigurationError):
        TaskOptions(**bad)


def test_task_options_convert_and_freeze() -> None:
    options = TaskOptions(task_key="k", timeout=5)
    assert options.timeout == 5.0 and isinstance(options.timeout, float)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        options.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        TaskOptions("k")  # type: ignore[misc]  # keyword-only
    renamed = attrs.evolve(options, task_name="n")
    assert renamed == TaskOptions(task_key="k", task_name="n", timeout=5)


def test_progress_is_a_keyword_only_value() -> None:
    assert Progress() == Progress(current=None, total=None, fraction=None)
    with pytest.raises(TypeError):
        Progress(1, 2)  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Progress().current = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"executor": "rocket"}, "executor must be one of"),
        ({"heartbeat_interval": 10.0, "lease": 15.0}, "at least twice heartbeat_interval"),
        ({"lease": -1}, "lease must be positive"),
        ({"max_workers": 0}, "max_workers"),
        ({"abort_poll_interval": 0}, "abort_poll_interval"),
        ({"progress_throttle": -1}, "progress_throttle"),
        ({"database_url": "mysql://x"}, "database_url"),
        ({"redis_url": ""}, "redis_url"),
    ],
)
def test_settings_are_checked_when_built(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(resumable.ConfigurationError, match=message):
        Settings(**{"database_url": "sqlite:///x.db", **bad})


def test_settings_defaults_and_zero_throttle() -> None:
    settings = Settings(database_url="sqlite:///x.db", progress_throttle=0)
    assert settings.executor == "thread" and settings.progress_throttle == 0.0
    assert settings.lease >= 2 * settings.heartbeat_interval


def test_bad_configure_keeps_the_previous_settings(configure_tasks: Any) -> None:
    before = configure_tasks(executor="inline")
    with pytest.raises(resumable.ConfigurationError):
        resumable.configure(executor="inline", heartbeat_interval=5, lease=6)
    from resumable._config import current_settings

    assert current_settings()[0] == before


def test_job_record_is_checked() -> None:
    with pytest.raises(TypeError):
        JobRecord(token=7)
    with pytest.raises(TypeError):
        JobRecord("t")  # type: ignore[misc]  # keyword-only
    record = JobRecord(token="t").with_external_id("j")
    assert record == JobRecord(token="t", external_id="j")
