"""The mixin inside a real Airflow BaseOperator: constructor machinery and on_kill.

Runs where Airflow is installed (the Airflow nox sessions); elsewhere it is skipped,
with the reason shown.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

pytest.importorskip("airflow", reason="Airflow is not installed here")

from dict_system import DictSystem

from resumable import ResumableJobMixin

try:
    from airflow.sdk import DAG, BaseOperator  # Airflow 3
    from airflow.sdk.exceptions import AirflowTaskTimeout
except ImportError:
    from airflow.exceptions import AirflowTaskTimeout  # Airflow 2
    from airflow.models import DAG, BaseOperator

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


class _Methods:
    system = DictSystem()

    def submit_job(self, context: Any) -> Any:
        return self.system.submit(None)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.system.status(external_id)

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        self.system.finish(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return self.system.results[external_id]

    def cancel_job(self, external_id: Any, context: Any) -> None:
        self.system.cancelled.append(external_id)


class InheritsInit(_Methods, ResumableJobMixin, BaseOperator):
    def execute(self, context: Any) -> Any:
        return self.execute_resumable(context)


class OwnInit(_Methods, ResumableJobMixin, BaseOperator):
    template_fields = ("app",)

    def __init__(self, *, app: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app

    def execute(self, context: Any) -> Any:
        return self.execute_resumable(context)


class Subclass(InheritsInit):
    pass


@pytest.mark.parametrize("cls", [InheritsInit, Subclass])
def test_durable_keyword_and_init_kwargs(cls: type[Any]) -> None:
    assert cls(task_id="a").durable is True
    op = cls(task_id="b", durable=False)
    assert op.durable is False
    assert op._BaseOperator__init_kwargs["durable"] is False
    assert op._BaseOperator__instantiated is True


def test_operator_with_its_own_init() -> None:
    op = OwnInit(task_id="c", app="x", durable=False)
    assert (op.app, op.durable, op.task_id) == ("x", False, "c")


def test_durable_from_dag_default_args() -> None:
    with DAG("d", schedule=None, start_date=START, default_args={"durable": False}):
        inherits, own = InheritsInit(task_id="e"), OwnInit(task_id="f", app="y")
        explicit = InheritsInit(task_id="g", durable=True)
    assert (inherits.durable, own.durable, explicit.durable) == (False, False, True)


def test_resume_on_retry_keyword_default_args_and_partial() -> None:
    with DAG("r", schedule=None, start_date=START, default_args={"resume_on_retry": False}):
        inherits, own = InheritsInit(task_id="e"), OwnInit(task_id="f", app="y")
        explicit = InheritsInit(task_id="g", resume_on_retry=True)
        OwnInit.partial(task_id="m1", resume_on_retry=False).expand(app=["a", "b"])
    assert (inherits.resume_on_retry, own.resume_on_retry) == (False, False)
    assert (explicit.resume_on_retry, explicit.durable) == (True, True)
    assert InheritsInit(task_id="h")._BaseOperator__init_kwargs == {"task_id": "h"}


def test_partial_and_expand_accept_durable() -> None:
    with DAG("m", schedule=None, start_date=START):
        OwnInit.partial(task_id="m1", durable=False).expand(app=["a", "b"])
        InheritsInit.partial(task_id="m2").expand(durable=[True, False])


def test_on_kill_cancels_the_job_being_polled() -> None:
    op = InheritsInit(task_id="k")

    def poll(external_id: Any, context: Any) -> None:
        op.on_kill()  # Airflow calls this from its signal handler, without a context
        op.system.finish(external_id)

    op.poll_until_complete = poll  # type: ignore[method-assign]
    op.execute({})
    assert op.system.cancelled[-1:] == [f"job-{op.system.submissions}"]


def test_timeout_then_on_kill_cancels_once() -> None:
    """Airflow's timeout sequence: AirflowTaskTimeout unwinds execute, then on_kill()."""
    op = InheritsInit(task_id="t")

    def poll(external_id: Any, context: Any) -> None:
        raise AirflowTaskTimeout("Timeout")

    op.poll_until_complete = poll  # type: ignore[method-assign]
    with pytest.raises(AirflowTaskTimeout):
        op.execute({})
    before = len(op.system.cancelled)
    op.on_kill()
    op.on_kill()
    assert op.system.cancelled[before:] == [f"job-{op.system.submissions}"]
