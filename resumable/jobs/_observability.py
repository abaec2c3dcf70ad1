"""Metrics, spans and log lines of the resume decision, under Airflow's names.

Metrics and spans go through ``opentelemetry-api``: without an OpenTelemetry SDK they are
no-ops; with one, they carry the names Airflow's mixin uses, so dashboards built for
Airflow keep working. Log lines go to the stdlib logger ``resumable.jobs`` with
``key=value`` context.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace

from resumable.jobs._decision import Action

log = logging.getLogger("resumable.jobs")

METER_NAME = "resumable.jobs"
SPAN_NAME = "resumable_job.resume_decision"

# Counter per decision. The first five are Airflow's; the token ones are ours (Airflow's
# mixin has no intent/token step). reconnect_attempt counts every stored id found.
FRESH_SUBMIT = "resumable_job.fresh_submit"
RECONNECT_ATTEMPT = "resumable_job.reconnect_attempt"
RECONNECT_SUCCESS = "resumable_job.reconnect_success"
ALREADY_SUCCEEDED = "resumable_job.already_succeeded"
TERMINAL_RESUBMIT = "resumable_job.terminal_resubmit"
RECOVER_BY_TOKEN = "resumable_job.recover_by_token"
RESUBMIT_WITH_SAME_TOKEN = "resumable_job.resubmit_with_same_token"
# What a stale (fenced-off) attempt did with the job it submitted (see _orphans.py).
ORPHAN_CANCELLED = "resumable_job.orphan_cancelled"
ORPHAN_ADOPTED = "resumable_job.orphan_adopted"
ORPHAN_LEFT = "resumable_job.orphan_left_for_find_job"
STALE_SPAN_NAME = "resumable_job.stale_attempt"

METRIC_OF_ACTION = {
    Action.FRESH_SUBMIT: FRESH_SUBMIT,
    Action.RECONNECT: RECONNECT_SUCCESS,
    Action.ALREADY_SUCCEEDED: ALREADY_SUCCEEDED,
    Action.TERMINAL_RESUBMIT: TERMINAL_RESUBMIT,
    Action.RECOVER_BY_TOKEN: RECOVER_BY_TOKEN,
    Action.RESUBMIT_WITH_SAME_TOKEN: RESUBMIT_WITH_SAME_TOKEN,
}

_DESCRIPTIONS = {
    FRESH_SUBMIT: "Jobs submitted because no job was recorded",
    RECONNECT_ATTEMPT: "Retries that found a recorded external job id",
    RECONNECT_SUCCESS: "Retries that reconnected to a still-active job",
    ALREADY_SUCCEEDED: "Retries that found the recorded job already succeeded",
    TERMINAL_RESUBMIT: "Jobs resubmitted because the recorded job ended without success",
    RECOVER_BY_TOKEN: "Jobs recovered through find_job(token) after a crash inside submit",
    RESUBMIT_WITH_SAME_TOKEN: "Jobs resubmitted with the same idempotency token",
    ORPHAN_CANCELLED: "Jobs a fenced-off attempt submitted and cancelled (another job won)",
    ORPHAN_ADOPTED: "Jobs a fenced-off attempt submitted that a newer attempt adopted",
    ORPHAN_LEFT: "Jobs a fenced-off attempt submitted and left for find_job to adopt",
}

# The API's proxy meter hands out instruments that start recording once an SDK meter
# provider is installed, even if that happens after this import.
_meter = metrics.get_meter(METER_NAME)
_counters = {
    name: _meter.create_counter(name, description=text) for name, text in _DESCRIPTIONS.items()
}
_tracer = trace.get_tracer(METER_NAME)


def count(name: str, operator: str) -> None:
    """Add one to counter ``name`` with the ``operator`` attribute (Airflow's stats tag)."""
    _counters[name].add(1, {"operator": operator})


@contextmanager
def decision_span(operator: str, external_id_key: str) -> Iterator[trace.Span]:
    """The ``resumable_job.resume_decision`` span around reading state and deciding."""
    with _tracer.start_as_current_span(SPAN_NAME) as span:
        span.set_attribute("operator", operator)
        span.set_attribute("resumable.external_id_key", external_id_key)
        yield span


@contextmanager
def stale_span(operator: str, external_id_key: str, external_id: Any) -> Iterator[trace.Span]:
    """The ``resumable_job.stale_attempt`` span around settling a stale attempt's job."""
    with _tracer.start_as_current_span(STALE_SPAN_NAME) as span:
        span.set_attribute("operator", operator)
        span.set_attribute("resumable.external_id_key", external_id_key)
        span.set_attribute("resumable.external_id", str(external_id))
        yield span


def _format(fields: dict[str, Any]) -> str:
    return " ".join(
        f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
        for key, value in fields.items()
    )


def event(level: int, message: str, **fields: Any) -> None:
    """Log ``message`` followed by its ``key=value`` context on ``resumable.jobs``."""
    if log.isEnabledFor(level):
        log.log(level, "%s %s", message, _format(fields), extra={"resumable": fields})
