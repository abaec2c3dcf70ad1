"""Metrics, spans and log lines of the resume decision, under Airflow's names.

Metrics and spans go through ``opentelemetry-api``: without an OpenTelemetry SDK they are
no-ops; with one, they carry the names Airflow's mixin uses, so dashboards built for
Airflow keep working. Log lines carry Airflow's wording and fields (``external_id_key``,
``external_id``, ``status``) and go to the operator's own logger when it has one (an
Airflow operator's ``self.log``: structlog on Airflow 3, where the fields stay
key-value pairs; stdlib logging on Airflow 2), else to the stdlib logger
``resumable.jobs``; on stdlib loggers the fields follow the message as ``key=value``
and sit in the record's ``resumable`` attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
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


def count(name: str, operator: str, team_name: str | None = None) -> None:
    """Add one to counter ``name`` tagged as Airflow tags it: ``operator``, ``team_name``.

    ``team_name`` is set only in multi-team Airflow deployments (see :func:`team_of`).
    """
    attributes = {"operator": operator}
    if team_name:
        attributes["team_name"] = team_name
    _counters[name].add(1, attributes)


def team_of(context: Mapping[str, Any]) -> str | None:
    """The team of the running Airflow task instance (``ti.stats_tags``), if any."""
    tags = getattr(context.get("ti"), "stats_tags", None)
    team = tags.get("team_name") if isinstance(tags, Mapping) else None
    return team if isinstance(team, str) and team else None


def logger_of(job: object) -> Any:
    """The job's own logger (an Airflow operator's ``self.log``), or None for none."""
    try:
        logger = getattr(job, "log", None)
    except Exception:  # a logger property that fails must not fail the job
        return None
    return logger if callable(getattr(logger, "warning", None)) else None


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


def event(level: int, message: str, *, logger: Any = None, **fields: Any) -> None:
    """Log ``message`` with its context on ``logger`` (see the module docstring).

    Args:
        level: A stdlib logging level.
        message: The event, in Airflow's wording where Airflow's mixin logs one.
        logger: The operator's logger from :func:`logger_of`, or None for
            ``resumable.jobs``.
        **fields: The context: ``external_id_key``, ``external_id``, ``status``, ...
    """
    if logger is None or isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
        target = log if logger is None else logger
        if target.isEnabledFor(level):
            target.log(level, "%s %s", message, _format(fields), extra={"resumable": fields})
        return
    # A structlog logger (Airflow 3's task SDK): fields stay key-value pairs.
    method = getattr(logger, logging.getLevelName(level).lower(), None)
    if callable(method):
        method(message, **fields)
