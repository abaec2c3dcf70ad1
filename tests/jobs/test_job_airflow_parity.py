"""Our mixin against Airflow's, in the shape of Airflow's own unit tests for its mixin.

Each test runs against every implementation present: ours always (mixed into Airflow's
``BaseOperator`` where Airflow is installed, alone elsewhere), and Airflow's own
``airflow.sdk.ResumableJobMixin`` where the task SDK has one (Airflow 3.3+, the
airflow-3.3 nox session). The store is Airflow's minimal protocol: ``get(key)`` and
``set(key, value)``, nothing more.

Where the two differ on purpose, the expectation says so (``ours``): our mixin writes
an intent record before ``submit_job`` (docs/airflow.md explains why), and returns
``get_job_result`` after a reconnect where Airflow 3.3 returns the poll's value.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import otel_capture
import pytest

import resumable
from resumable.jobs import state_key

try:  # the operator base the mixins are mixed into, as users do
    from airflow.sdk import BaseOperator  # Airflow 3
except ImportError:
    try:
        from airflow.models import BaseOperator  # Airflow 2
    except ImportError:
        BaseOperator = None

try:
    from airflow.sdk import ResumableJobMixin as AirflowMixin  # Airflow 3.3+
except ImportError:
    AirflowMixin = None

IMPLEMENTATIONS = ["ours"] + (["airflow"] if AirflowMixin is not None else [])
# Airflow's mixin counts through Airflow's own stats module (its tests patch it there).
AIRFLOW_STATS_INCR = "airflow.sdk._shared.observability.metrics.stats.incr"


class WorkerDied(BaseException):
    """Stands for the worker process dying (nothing after it runs)."""


class GetSetStore:
    """Airflow's store protocol and nothing more: ``get(key)``, ``set(key, value)``."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(stored or {})

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


class _FakeJobMethods:
    """A fake external system: ids come from ``next_id``, statuses from ``statuses``."""

    external_id_key = "test_job_id"

    def _reset(self) -> None:
        self.submitted: list[Any] = []
        self.polled: list[Any] = []
        self.next_id: Any = "job-001"
        self.statuses: dict[str, str] = {}

    def submit_job(self, context: Any) -> Any:
        self.submitted.append(self.next_id)
        return self.next_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.statuses.get(str(external_id), "UNKNOWN")

    def is_job_active(self, status: str) -> bool:
        return status in ("RUNNING", "PENDING")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        self.polled.append(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return f"result-of-{external_id}"


def operator_class(impl: str, **attributes: Any) -> type[Any]:
    """A fake operator class on ``impl``'s mixin (plus BaseOperator where Airflow is)."""
    mixin = AirflowMixin if impl == "airflow" else resumable.ResumableJobMixin
    bases = (_FakeJobMethods, mixin) + ((BaseOperator,) if BaseOperator is not None else ())
    return type("FakeOperator", bases, dict(attributes))


def make_operator(impl: str, cls: type[Any] | None = None, **kwargs: Any) -> Any:
    cls = cls or operator_class(impl)
    if BaseOperator is not None:
        kwargs.setdefault("task_id", "test_task")
    op = cls(**kwargs)
    op._reset()
    return op


def run(op: Any, store: GetSetStore | None) -> Any:
    return op.execute_resumable({} if store is None else {"task_state_store": store})


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the status table ---------------------------------------------------------------
# stored id, its status -> submitted, polled, decision, counters (sorted, no prefix)
KEY = "test_job_id"
ATTEMPT = "reconnect_attempt"
RESUBMIT = (["job-002"], ["job-002"], "terminal_resubmit", [ATTEMPT, "terminal_resubmit"])
STATUS_TABLE = [
    (None, None, ["job-002"], ["job-002"], "fresh_submit", ["fresh_submit"]),
    ("job-001", "RUNNING", [], ["job-001"], "reconnect", [ATTEMPT, "reconnect_success"]),
    ("job-001", "PENDING", [], ["job-001"], "reconnect", [ATTEMPT, "reconnect_success"]),
    ("job-001", "SUCCEEDED", [], [], "already_succeeded", ["already_succeeded", ATTEMPT]),
    ("job-001", "FAILED", *RESUBMIT),
    ("job-001", "KILLED", *RESUBMIT),
    ("job-001", "ERROR", *RESUBMIT),
    ("job-001", "UNKNOWN", *RESUBMIT),
]


@pytest.fixture(autouse=True)
def _spans() -> None:
    otel_capture.install()
    otel_capture.exporter.clear()


@contextlib.contextmanager
def recorded_metrics(impl: str) -> Iterator[list[str]]:
    """The names of the counters the run increments, in sorted order."""
    names: list[str] = []
    if impl == "airflow":
        with mock.patch(AIRFLOW_STATS_INCR) as incr:
            yield names
        names.extend(sorted(call.args[0] for call in incr.call_args_list))
        return
    before = otel_capture.counters()
    yield names
    for (name, operator), value in otel_capture.counters().items():
        if operator == "FakeOperator":
            names.extend([name] * (value - before.get((name, operator), 0)))
    names.sort()


def decision_spans() -> list[dict[str, Any]]:
    return [
        dict(span.attributes or {})
        for span in otel_capture.exporter.get_finished_spans()
        if span.name == "resumable_job.resume_decision"
    ]


@pytest.mark.parametrize(
    ("stored", "status", "submitted", "polled", "decision", "metrics"), STATUS_TABLE
)
def test_status_table(
    impl: str,
    stored: str | None,
    status: str | None,
    submitted: list[str],
    polled: list[str],
    decision: str,
    metrics: list[str],
) -> None:
    op = make_operator(impl)
    op.next_id = "job-002"
    if stored is not None and status is not None:
        op.statuses[stored] = status
    store = GetSetStore({} if stored is None else {"test_job_id": stored})

    with recorded_metrics(impl) as names:
        result = run(op, store)

    assert op.submitted == submitted
    assert op.polled == polled
    assert names == [f"resumable_job.{name}" for name in metrics]
    if decision == "reconnect" and impl == "airflow":
        assert result is None  # Airflow 3.3 returns poll_until_complete's value
    else:
        assert result == f"result-of-{(submitted or [stored])[0]}"
    span = decision_spans()[-1]
    assert span["resumable.decision"] == decision
    assert span["operator"] == "FakeOperator"
    assert span["resumable.external_id_key"] == "test_job_id"
    if stored is None:
        assert "resumable.external_id" not in span
    else:
        assert span["resumable.external_id"] == stored
        assert span["resumable.prior_status"] == status
    # The id of the job that ran is where Airflow's mixin keeps it.
    assert store.get("test_job_id") == (submitted or [stored])[0]


def test_id_is_persisted_before_polling(impl: str) -> None:
    op = make_operator(impl)
    store = GetSetStore()
    seen: list[Any] = []
    op.poll_until_complete = lambda external_id, context: seen.append(store.get("test_job_id"))

    run(op, store)

    assert seen == ["job-001"]


def test_none_id_is_not_persisted(impl: str) -> None:
    op = make_operator(impl)
    op.next_id = None

    store = GetSetStore()
    run(op, store)

    assert op.polled == [None]
    assert store.get("test_job_id") is None
    if impl == "airflow":
        assert store.data == {}
    else:
        # Ours recorded its intent (a token) before submit_job ran, and no id after.
        assert set(store.data) == {state_key("test_job_id")}
        assert "external_id" not in store.data[state_key("test_job_id")]


def test_custom_external_id_key(impl: str) -> None:
    op = make_operator(impl, operator_class(impl, external_id_key="my_custom_key"))
    store = GetSetStore()

    run(op, store)

    assert store.get("my_custom_key") == "job-001"
    # ... and a retry finds it there.
    again = make_operator(impl, operator_class(impl, external_id_key="my_custom_key"))
    again.statuses["job-001"] = "SUCCEEDED"
    assert run(again, store) == "result-of-job-001"
    assert again.submitted == []


@pytest.mark.parametrize("keyword", ["resume_on_retry", "durable"])
def test_resume_switch_off(impl: str, keyword: str) -> None:
    cls = operator_class(impl)
    if keyword not in _keywords(cls):
        pytest.skip(f"this {impl} mixin has no {keyword}= keyword")
    op = make_operator(impl, cls, **{keyword: False})
    op.statuses["job-001"] = "RUNNING"
    store = GetSetStore({"test_job_id": "job-001"})

    assert run(op, store) == "result-of-job-001"

    assert op.submitted == ["job-001"]  # submitted, although a running job is recorded
    assert store.data == {"test_job_id": "job-001"}  # neither read into nor written
    assert getattr(op, keyword) is False
    assert getattr(make_operator(impl), keyword) is True


def _keywords(cls: type[Any]) -> set[str]:
    import inspect

    return {
        name
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        for name in inspect.signature(vars(klass)["__init__"]).parameters
    }


@contextlib.contextmanager
def captured_logs(op: Any) -> Iterator[list[dict[str, Any]]]:
    """Log events as ``{"event", "log_level", **fields}``, from structlog and stdlib.

    Stdlib records are caught on the root logger and on the operator's own logger
    (Airflow 2's task loggers do not propagate to the root).
    """
    entries: list[dict[str, Any]] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            fields = getattr(record, "resumable", None)
            if isinstance(fields, dict):
                level = record.levelname.lower()
                entries.append({"event": record.getMessage(), "log_level": level, **fields})

    handler = Handler(logging.DEBUG)
    own = getattr(op, "log", None)
    loggers = [logging.getLogger()] + ([own] if isinstance(own, logging.Logger) else [])
    old_levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        try:
            import structlog.testing
        except ImportError:
            yield entries
        else:
            with structlog.testing.capture_logs() as structured:
                yield entries
            entries.extend(structured)
    finally:
        for logger, level in zip(loggers, old_levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_warning_when_no_store(impl: str) -> None:
    op = make_operator(impl)
    with captured_logs(op) as logs:
        assert run(op, None) == "result-of-job-001"
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert any("crash recovery is disabled" in entry["event"] for entry in warnings), logs
    assert decision_spans()[-1]["resumable.decision"] == "no_task_state_store"


@pytest.mark.parametrize(
    ("status", "fragment", "level", "fields"),
    [
        ("RUNNING", "Reconnecting", "info", {"external_id_key": KEY, "status": "RUNNING"}),
        ("SUCCEEDED", "already completed", "info", {"external_id_key": KEY}),
        ("FAILED", "terminal state", "warning", {"status": "FAILED"}),
    ],
)  # fmt: skip
def test_log_fields_for_a_stored_job(
    impl: str, status: str, fragment: str, level: str, fields: dict[str, Any]
) -> None:
    op = make_operator(impl)
    op.statuses["job-001"] = status
    with captured_logs(op) as logs:
        run(op, GetSetStore({"test_job_id": "job-001"}))
    entry = next((e for e in logs if fragment in e["event"]), None)
    assert entry is not None, logs
    assert entry["log_level"] == level
    assert entry["external_id"] == "job-001"
    for key, value in fields.items():
        assert entry[key] == value


def test_ours_on_a_get_set_store_keeps_the_submit_window_closed() -> None:
    # The guarantee a get/set store allows: the intent (token) is stored before
    # submit_job runs, and a retry after a crash inside submit_job reuses the token.
    op = make_operator("ours")
    store = GetSetStore()
    tokens: list[Any] = []

    def crash(context: Any) -> Any:
        tokens.append(op.idempotency_token(context))
        assert store.get(state_key("test_job_id"))["token"] == tokens[-1]
        raise WorkerDied  # the worker dies inside submit_job

    op.submit_job = crash
    with pytest.raises(WorkerDied):
        run(op, store)

    retry = make_operator("ours")
    tokens_on_retry: list[Any] = []
    retry.find_job = lambda token, context: tokens_on_retry.append(token)  # finds nothing
    assert run(retry, store) == "result-of-job-001"
    assert tokens_on_retry == tokens
    assert store.get("test_job_id") == "job-001"
