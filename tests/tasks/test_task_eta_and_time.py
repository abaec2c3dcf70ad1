"""ETA computed when read, and aware UTC timestamps, on every SQL backend."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pendulum
import pytest

import resumable
from resumable import TaskOptions, get_context, task
from resumable.tasks._models import Progress

START = pendulum.datetime(2026, 1, 2, 12, 0, 0)


def test_eta_extrapolates_this_attempts_pace_from_its_start() -> None:
    running = Progress(fraction=0.25, attempt_started_at=START)
    assert running.eta_at(START.add(seconds=10)) == pytest.approx(30.0)
    # Nothing written since: the same fraction ten seconds later means a slower pace.
    assert running.eta_at(START.add(seconds=20)) == pytest.approx(60.0)
    resumed = Progress(fraction=0.75, attempt_started_at=START, attempt_start_fraction=0.5)
    assert resumed.eta_at(START.add(seconds=10)) == pytest.approx(10.0)


def test_eta_is_zero_when_done_and_none_while_unknown() -> None:
    later = START.add(seconds=5)
    assert Progress(fraction=1.0).eta_at(later) == 0.0
    assert Progress(succeeded=True).eta_at(later) == 0.0
    assert Progress(fraction=0.5).eta_at(later) is None  # no attempt runs (pending, ended)
    assert Progress(current=3.0, attempt_started_at=START).eta_at(later) is None  # no fraction
    no_progress_yet = Progress(fraction=0.5, attempt_started_at=START, attempt_start_fraction=0.5)
    assert no_progress_yet.eta_at(later) is None
    assert Progress().eta_seconds is None


@pytest.mark.usefixtures("tasks_db")
def test_a_stalled_tasks_eta_grows_between_two_reads(gate: Any) -> None:
    @task
    def stalls() -> None:
        get_context().update_task(progress=(1, 4))
        gate.block()

    t = stalls.schedule()
    gate.wait_entered()
    first = resumable.get_task(t.uuid)
    assert first.progress.fraction == 0.25
    eta = first.progress.eta_seconds
    assert eta is not None and eta > 0
    time.sleep(0.2)  # no progress written meanwhile: the task stalls
    second = resumable.get_task(t.uuid)
    assert second.progress.eta_seconds is not None and second.progress.eta_seconds > eta
    # Reading the same snapshot later computes it again, too.
    assert first.progress.eta_seconds is not None and first.progress.eta_seconds > eta
    gate.release.set()
    done = t.wait(timeout=30)
    assert done.progress.eta_seconds == 0.0 and done.progress.fraction == 0.25


@pytest.mark.usefixtures("tasks_db")
def test_a_retry_paces_the_eta_on_its_own_progress(gate: Any) -> None:
    @task(retries=1, retry_delay=0)
    def flaky() -> None:
        ctx = get_context()
        if ctx.attempt == 1:
            ctx.update_task(progress=(2, 4))
            raise RuntimeError("first attempt fails halfway")
        ctx.update_task(progress=(3, 4))
        gate.block()

    t = flaky.schedule()
    gate.wait_entered()
    seen = resumable.get_task(t.uuid)
    assert seen.attempt == 2 and seen.progress.fraction == 0.75
    assert seen.progress.attempt_start_fraction == 0.5
    started = seen.progress.attempt_started_at
    assert started is not None
    # A quarter done in this attempt, a quarter left: the ETA equals the time it took.
    assert seen.progress.eta_at(started.add(seconds=8)) == pytest.approx(8.0)
    gate.release.set()
    assert t.wait(timeout=30).status == "success"


def _aware_utc(moment: datetime | None) -> None:
    assert isinstance(moment, pendulum.DateTime)
    assert moment.utcoffset() == timedelta(0)
    assert moment.tzinfo is not None and moment.tzinfo.utcoffset(moment) == timedelta(0)


@pytest.mark.usefixtures("inline_tasks")
def test_every_timestamp_is_aware_utc() -> None:
    @task
    def quick() -> None:
        get_context().update_task(progress=0.5)

    before = pendulum.now("UTC").subtract(seconds=1)
    done = quick(options=TaskOptions(task_key="ts"))
    for t in (done, resumable.get_task(done.uuid), resumable.list_tasks(limit=1)[0]):
        for moment in (t.created_at, t.started_at, t.ended_at):
            _aware_utc(moment)
            assert moment is not None and moment >= before
        assert t.created_at <= t.started_at <= t.ended_at  # type: ignore[operator]
        assert t.created_at.diff_for_humans()  # pendulum's own methods work
    duration = done.duration_seconds
    assert duration is not None and duration >= 0
