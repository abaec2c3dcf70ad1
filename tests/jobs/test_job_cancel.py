"""cancel_job on abort, timeout and on_kill; never on a plain failure; never masking."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from dict_system import DictJob, DictSystem, FindableDictJob, JobFailed, WorkerDied, die

import resumable
from resumable import TaskStateStore, run_job
from resumable.jobs import register_cancel_trigger


class RunTimedOut(BaseException):
    """A runner's timeout, registered below as a cancel trigger."""


register_cancel_trigger(RunTimedOut)


@pytest.fixture
def state(store_url: str) -> Iterator[TaskStateStore]:
    with resumable.open_store(store_url) as store:
        yield store.scope("pipeline", "run-1")


def raise_in_poll(exc: BaseException) -> Any:
    def hook(job: DictJob, external_id: Any) -> None:
        raise exc

    return hook


def test_abort_during_poll_cancels_the_job(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(KeyboardInterrupt):
        run_job(DictJob(system, in_poll=raise_in_poll(KeyboardInterrupt())), store=state)
    assert system.cancelled == ["job-1"]
    assert system.jobs["job-1"]["status"] == "CANCELLED"


def test_registered_timeout_cancels_the_job(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(RunTimedOut):
        run_job(DictJob(system, in_poll=raise_in_poll(RunTimedOut())), store=state)
    assert system.cancelled == ["job-1"]


def test_ordinary_poll_failure_does_not_cancel(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(WorkerDied):
        run_job(DictJob(system, in_poll=die), store=state)
    assert system.cancelled == []


def test_on_kill_cancels_the_job_being_polled_once(state: TaskStateStore) -> None:
    system = DictSystem()

    def killed_then_interrupted(job: DictJob, external_id: Any) -> None:
        job.on_kill()  # what Airflow's signal handler calls, with no context
        raise KeyboardInterrupt

    job = DictJob(system, in_poll=killed_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_job(job, store=state)
    assert system.cancelled == ["job-1"]  # on_kill and the abort: one cancel
    assert system.count("cancel") == 1


def test_on_kill_passes_the_running_context(state: TaskStateStore) -> None:
    seen: list[Any] = []

    class Job(DictJob):
        def cancel_job(self, external_id: Any, context: Any) -> None:
            seen.append(context["try_number"])

    def kill(job: DictJob, external_id: Any) -> None:
        job.on_kill()

    run_job(Job(DictSystem(), in_poll=kill), store=state)
    assert seen == [1]


def test_on_kill_outside_a_run_does_nothing() -> None:
    system = DictSystem()
    DictJob(system).on_kill()
    assert system.cancelled == []


def test_on_kill_calls_the_next_classes_on_kill() -> None:
    killed: list[str] = []

    class Base:
        def on_kill(self) -> None:
            killed.append("base")

    class Operator(DictJob, Base):
        pass

    Operator(DictSystem()).on_kill()
    assert killed == ["base"]


def test_failing_cancel_is_logged_and_the_abort_stands(
    state: TaskStateStore, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenCancel(DictJob):
        def cancel_job(self, external_id: Any, context: Any) -> None:
            raise ConnectionError("cluster API down")

    with (
        caplog.at_level(logging.ERROR, logger="resumable.jobs"),
        pytest.raises(KeyboardInterrupt),
    ):
        run_job(BrokenCancel(DictSystem(), in_poll=raise_in_poll(KeyboardInterrupt())), store=state)
    assert "cancel_job failed" in caplog.text
    assert "cluster API down" in caplog.text


def test_abort_inside_submit_cancels_the_job_found_by_token(state: TaskStateStore) -> None:
    system = DictSystem()

    def accepted_then_interrupted(job: DictJob, job_id: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(FindableDictJob(system, after_submit=accepted_then_interrupted), store=state)
    assert system.cancelled == ["job-1"]


def test_register_cancel_trigger_refuses_non_exceptions() -> None:
    with pytest.raises(TypeError, match="exception class"):
        register_cancel_trigger("TimeoutError")  # type: ignore[arg-type]


def test_on_kill_inside_submit_cancels_the_job_found_by_token(state: TaskStateStore) -> None:
    system = DictSystem()

    def killed_after_accept(job: DictJob, job_id: Any) -> None:
        job.on_kill()

    with pytest.raises(JobFailed, match="CANCELLED"):  # the poll then sees it cancelled
        run_job(FindableDictJob(system, after_submit=killed_after_accept), store=state)
    assert system.cancelled == ["job-1"]


def test_on_kill_after_a_run_cancels_nothing(state: TaskStateStore) -> None:
    system = DictSystem()
    job = FindableDictJob(system)
    run_job(job, store=state)
    job.on_kill()
    assert system.cancelled == []


class AirflowStyleTimeout(BaseException):
    """Not a registered trigger: like Airflow's timeout, followed by on_kill()."""


def test_on_kill_after_a_timeout_unwound_the_poll_cancels(state: TaskStateStore) -> None:
    system = DictSystem()
    job = DictJob(system, in_poll=raise_in_poll(AirflowStyleTimeout()))
    with pytest.raises(AirflowStyleTimeout):
        job.execute_resumable({"task_state_store": state, "try_number": 1})
    job.on_kill()  # what Airflow's task runner does after a timeout
    job.on_kill()
    assert system.cancelled == ["job-1"]


def test_on_kill_after_a_timeout_unwound_submit_cancels_by_token(state: TaskStateStore) -> None:
    system = DictSystem()

    def accepted_then_timed_out(job: DictJob, job_id: Any) -> None:
        raise AirflowStyleTimeout

    job = FindableDictJob(system, after_submit=accepted_then_timed_out)
    with pytest.raises(AirflowStyleTimeout):
        job.execute_resumable({"task_state_store": state, "try_number": 1})
    job.on_kill()
    assert system.cancelled == ["job-1"]


def test_a_registered_trigger_and_the_following_on_kill_cancel_once(
    state: TaskStateStore,
) -> None:
    system = DictSystem()
    job = DictJob(system, in_poll=raise_in_poll(RunTimedOut()))
    with pytest.raises(RunTimedOut):
        job.execute_resumable({"task_state_store": state, "try_number": 1})
    job.on_kill()
    assert system.count("cancel") == 1
