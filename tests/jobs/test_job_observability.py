"""Metrics and spans under Airflow's names, read back through the OpenTelemetry SDK."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import otel_capture
import pytest
from dict_system import DictJob, DictSystem, FindableDictJob, die, fail_job, finish_then_die

import resumable
from resumable import TaskStateStore, run_job

_exporter = otel_capture.exporter
counters = otel_capture.counters


@pytest.fixture(scope="module", autouse=True)
def _sdk() -> None:
    otel_capture.install()


@pytest.fixture
def state() -> Iterator[TaskStateStore]:
    with resumable.open_store("memory://observability") as store:
        scope = store.scope("pipeline", "run-1")
        scope.clear()
        yield scope


def decisions_and_metrics(job: DictJob, state: TaskStateStore) -> tuple[list[Any], dict[str, int]]:
    _exporter.clear()
    before = counters()
    with contextlib.suppress(Exception):
        run_job(job, store=state)
    after = counters()
    operator = type(job).__name__
    delta = {
        name: after[(name, op)] - before.get((name, op), 0)
        for (name, op) in after
        if op == operator and after[(name, op)] != before.get((name, op), 0)
    }
    spans = _exporter.get_finished_spans()
    return [dict(span.attributes or {}) for span in spans], delta


def test_fresh_submit_then_cached_success(state: TaskStateStore) -> None:
    system = DictSystem()
    spans, delta = decisions_and_metrics(DictJob(system), state)
    assert delta == {"resumable_job.fresh_submit": 1}
    assert [s["resumable.decision"] for s in spans] == ["fresh_submit"]
    assert spans[0]["operator"] == "DictJob"
    assert spans[0]["resumable.external_id_key"] == "dict_job_id"

    spans, delta = decisions_and_metrics(DictJob(system), state)
    assert delta == {"resumable_job.reconnect_attempt": 1, "resumable_job.already_succeeded": 1}
    assert spans[0]["resumable.decision"] == "already_succeeded"


def test_reconnect(state: TaskStateStore) -> None:
    system = DictSystem()
    decisions_and_metrics(DictJob(system, in_poll=die), state)
    spans, delta = decisions_and_metrics(DictJob(system), state)
    assert delta == {"resumable_job.reconnect_attempt": 1, "resumable_job.reconnect_success": 1}
    assert spans[0]["resumable.decision"] == "reconnect"
    assert spans[0]["resumable.external_id"] == "job-1"
    assert spans[0]["resumable.prior_status"] == "RUNNING"


def test_already_succeeded_by_status(state: TaskStateStore) -> None:
    system = DictSystem()
    decisions_and_metrics(DictJob(system, in_poll=finish_then_die), state)
    spans, delta = decisions_and_metrics(DictJob(system), state)
    assert delta == {"resumable_job.reconnect_attempt": 1, "resumable_job.already_succeeded": 1}
    assert spans[0]["resumable.prior_status"] == "SUCCEEDED"


def test_terminal_resubmit(state: TaskStateStore) -> None:
    system = DictSystem()
    decisions_and_metrics(DictJob(system, in_poll=fail_job), state)
    spans, delta = decisions_and_metrics(DictJob(system), state)
    assert delta == {"resumable_job.reconnect_attempt": 1, "resumable_job.terminal_resubmit": 1}
    assert spans[0]["resumable.decision"] == "terminal_resubmit"


def test_token_recovery_and_same_token_resubmit(state: TaskStateStore) -> None:
    system = DictSystem()
    decisions_and_metrics(FindableDictJob(system, after_submit=die), state)
    spans, delta = decisions_and_metrics(FindableDictJob(system), state)
    assert delta == {"resumable_job.recover_by_token": 1}
    assert spans[0]["resumable.decision"] == "recover_by_token"

    state.clear()
    decisions_and_metrics(FindableDictJob(system, before_submit=die), state)
    spans, delta = decisions_and_metrics(FindableDictJob(system), state)
    assert delta == {"resumable_job.resubmit_with_same_token": 1}
    assert spans[0]["resumable.decision"] == "resubmit_with_same_token"


def test_no_store_span_and_no_metric() -> None:
    _exporter.clear()
    DictJob(DictSystem()).execute_resumable({})
    spans = _exporter.get_finished_spans()
    assert [dict(s.attributes or {})["resumable.decision"] for s in spans] == [
        "no_task_state_store"
    ]


def test_durable_false_emits_nothing(state: TaskStateStore) -> None:
    spans, delta = decisions_and_metrics(DictJob(DictSystem(), durable=False), state)
    assert spans == []
    assert delta == {}


def test_log_lines_carry_key_value_context(
    state: TaskStateStore, caplog: pytest.LogCaptureFixture
) -> None:
    system = DictSystem()
    decisions_and_metrics(DictJob(system, in_poll=die), state)
    with caplog.at_level(logging.INFO, logger="resumable.jobs"):
        decisions_and_metrics(DictJob(system), state)
    line = next(r.getMessage() for r in caplog.records if "Reconnecting" in r.getMessage())
    assert "decision='reconnect'" in line
    assert "external_id='job-1'" in line
    assert "status='RUNNING'" in line
    assert "operator='DictJob'" in line


def _b_runs_inside(job_class: type[DictJob], state: TaskStateStore) -> Any:
    """A hook: runner B runs to completion inside A's submit_job (A paused that long)."""

    def hook(job: DictJob, value: Any) -> None:
        with contextlib.suppress(Exception):
            run_job(job_class(job.system), store=state)

    return hook


@pytest.mark.parametrize(
    ("job_class", "where", "metric"),
    [
        (DictJob, "after_submit", "resumable_job.orphan_cancelled"),
        (FindableDictJob, "after_submit", "resumable_job.orphan_adopted"),
    ],
)
def test_stale_attempt_names_what_it_did_with_its_job(
    state: TaskStateStore, job_class: type[DictJob], where: str, metric: str
) -> None:
    a = job_class(DictSystem(), **{where: _b_runs_inside(job_class, state)})
    _, delta = decisions_and_metrics(a, state)
    assert delta.get(metric) == 1, delta
    stale = [
        s
        for s in _exporter.get_finished_spans()  # this run's: the helper clears first
        if s.name == "resumable_job.stale_attempt"
    ]
    assert [event.name for span in stale for event in span.events] == [metric]
    assert dict(stale[0].attributes or {})["resumable.orphan_outcome"] == metric
