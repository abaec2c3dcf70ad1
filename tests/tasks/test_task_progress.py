"""Progress formats, payload, throttling and ETA (SEMANTICS.md: Progress and payload)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest

import resumable
from resumable import get_context, task
from resumable.tasks._progress import (
    ProgressReporter,
    ProgressValue,
    Throttle,
    eta_seconds,
    normalize_progress,
    validate_payload,
)


def test_three_progress_formats() -> None:
    assert normalize_progress((3, 4)) == ProgressValue(3.0, 4.0, 0.75)
    assert normalize_progress(0.25) == ProgressValue(None, None, 0.25)
    assert normalize_progress(42) == ProgressValue(42.0, None, None)
    assert normalize_progress(1.0).fraction == 1.0 and normalize_progress(0).current == 0


@pytest.mark.parametrize(
    "bad",
    [
        1.5,
        -0.1,
        -1,
        (5, 4),
        (1, 0),
        (1, 2, 3),
        (-1, 2),
        "50%",
        [1, 2],
        True,
        math.nan,
        (1, math.inf),
        None,
    ],
)
def test_bad_progress_is_rejected(bad: Any) -> None:
    with pytest.raises(resumable.InvalidValueError):
        normalize_progress(bad)


@pytest.mark.parametrize("bad", [[1], "x", {"a": {1, 2}}, {"a": math.nan}, {"a": object()}])
def test_bad_payload_is_rejected(bad: Any) -> None:
    with pytest.raises(resumable.InvalidValueError):
        validate_payload(bad)


def test_eta_from_elapsed_and_fraction() -> None:
    assert eta_seconds(10.0, 0.5) == pytest.approx(10.0)
    assert eta_seconds(10.0, 0.25) == pytest.approx(30.0)
    assert eta_seconds(10.0, 1.0) == 0.0
    assert eta_seconds(10.0, None) is None and eta_seconds(10.0, 0.0) is None
    # A resumed attempt that started at 50% and reached 75% in 10 s needs 10 s more.
    assert eta_seconds(10.0, 0.75, start_fraction=0.5) == pytest.approx(10.0)


def test_throttle_windows() -> None:
    throttle = Throttle(2.0)
    assert throttle.due_now(100.0)
    throttle.wrote(100.0)
    assert not throttle.due_now(101.9) and throttle.window_end() == 102.0
    assert throttle.due_now(102.0)


def test_reporter_writes_first_at_once_coalesces_and_trails() -> None:
    writes: list[dict[str, Any]] = []
    written = threading.Event()

    def write(values: dict[str, Any]) -> None:
        writes.append(values)
        written.set()

    reporter = ProgressReporter(write, interval=0.2)
    reporter.report(normalize_progress((1, 10)), None)
    assert len(writes) == 1 and writes[0]["progress_current"] == 1.0  # first: at once
    written.clear()
    for i in range(2, 8):
        reporter.report(normalize_progress((i, 10)), None)
    assert len(writes) == 1  # coalesced
    assert written.wait(10)  # the trailing write at the end of the window
    assert len(writes) == 2 and writes[1]["progress_current"] == 7.0
    reporter.report(None, validate_payload({"p": 1}))
    reporter.close()  # flush at the end
    assert writes[-1] == {"payload": '{"p":1}'}
    reporter.report(normalize_progress(0.5), None)  # after close: ignored
    assert writes[-1] == {"payload": '{"p":1}'}


def test_a_hundred_thousand_updates_are_a_handful_of_writes() -> None:
    writes: list[dict[str, Any]] = []
    reporter = ProgressReporter(writes.append, interval=2.0)
    started = time.monotonic()
    for i in range(100_000):
        reporter.report(normalize_progress((i + 1, 100_000)), None)
    reporter.close()
    windows = math.ceil((time.monotonic() - started) / 2.0)
    assert len(writes) <= windows + 1  # at most one per window, plus the final flush
    assert writes[-1]["progress_current"] == 100_000.0


@pytest.mark.usefixtures("tasks_db")
def test_progress_and_payload_are_stored_and_payload_replaces() -> None:
    @task
    def work() -> None:
        ctx = get_context()
        ctx.update_task(progress=(1, 4), payload={"a": 1, "b": 2})
        ctx.update_task(payload={"c": 3})
        ctx.update_task(progress=(3, 4))

    t = work()
    assert t.payload == {"c": 3}
    assert (t.progress.current, t.progress.total, t.progress.fraction) == (3.0, 4.0, 0.75)


@pytest.mark.usefixtures("tasks_db")
def test_float_and_count_progress_round_trip() -> None:
    @task
    def by_fraction() -> None:
        get_context().update_task(progress=0.4)

    @task
    def by_count() -> None:
        get_context().update_task(progress=17)

    a, b = by_fraction(), by_count()
    assert a.progress.fraction == 0.4 and a.progress.current is None
    assert b.progress.current == 17.0 and b.progress.fraction is None and b.progress.total is None


@pytest.mark.usefixtures("tasks_db")
def test_bad_update_raises_in_the_task_and_writes_nothing() -> None:
    errors: list[BaseException] = []

    @task
    def work() -> None:
        ctx = get_context()
        ctx.update_task(progress=(1, 2), payload={"ok": True})
        for bad in ({"progress": 2.0}, {"payload": {"x": {1}}}, {"progress": (3, 2)}):
            try:
                ctx.update_task(**bad)
            except resumable.InvalidValueError as exc:
                errors.append(exc)

    t = work()
    assert len(errors) == 3
    assert t.payload == {"ok": True} and t.progress.fraction == 0.5


@pytest.mark.usefixtures("tasks_db")
def test_readers_see_throttled_progress_while_running_with_an_eta(gate: Any) -> None:
    @task
    def work() -> None:
        ctx = get_context()
        ctx.update_task(progress=(1, 4))
        time.sleep(0.05)
        ctx.update_task(progress=(2, 4))  # within the window: written at its end
        gate.block()

    t = work.schedule()
    gate.wait_entered()
    deadline = time.monotonic() + 20
    while t.refresh().progress.current != 2.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.progress.current == 2.0 and t.progress.fraction == 0.5
    assert t.progress.eta_seconds is not None and t.progress.eta_seconds >= 0
    gate.release.set()
    assert t.wait(timeout=20).progress.eta_seconds == 0.0


@pytest.mark.usefixtures("tasks_db")
def test_tight_loop_of_updates_inside_a_task_flushes_the_last_value() -> None:
    @task
    def hot() -> None:
        ctx = get_context()
        for i in range(100_000):
            ctx.update_task(progress=(i + 1, 100_000))

    t = hot()
    assert t.status == "success" and t.progress.current == 100_000.0
