"""Every path of API.md section 2, on every store backend, against an in-test system."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from dict_system import (
    POLL_VALUE,
    DictJob,
    DictSystem,
    FindableDictJob,
    WorkerDied,
    die,
    fail_job,
    finish_then_die,
    once,
)

import resumable
from resumable import ResumableJobMixin, TaskStateStore, run_job

RECORD_KEY = "dict_job_id.resumable"


@pytest.fixture
def state(store_url: str) -> Iterator[TaskStateStore]:
    with resumable.open_store(store_url) as store:
        yield store.scope("pipeline", "run-1")


def snapshot(state: TaskStateStore) -> dict[str, Any]:
    return {key: state.get(key) for key in state.keys()}


def test_fresh_submit_persists_intent_before_submit(state: TaskStateStore) -> None:
    system = DictSystem()
    seen: dict[str, Any] = {}

    def look_at_store(job: DictJob, context: Any) -> None:
        seen["record"] = state.get(RECORD_KEY)
        seen["token"] = job.idempotency_token(context)

    job = DictJob(system, before_submit=look_at_store)
    result = run_job(job, store=state)

    assert result == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1
    assert seen["record"] == {"v": 1, "token": seen["token"]}  # intent written first
    assert system.submitted_tokens == [seen["token"]]
    assert state.get(RECORD_KEY) == {
        "v": 1,
        "token": seen["token"],
        "external_id": "job-1",
        "succeeded": True,
    }
    assert state.get("dict_job_id") == "job-1"  # where Airflow's mixin keeps the id
    assert job.idempotency_token() is None  # only during a run


def test_reconnect_after_worker_dies_mid_poll(state: TaskStateStore) -> None:
    system = DictSystem()
    job = DictJob(system, in_poll=once(die))
    result = run_job(job, store=state, retries=1)

    assert system.submissions == 1
    assert result == {"rows": 42, "job": "job-1"}
    assert result != POLL_VALUE  # Airflow 3.3.2 returns the poll's value here
    assert [c for c in system.calls if c[0] != "submit"] == [
        ("poll", "job-1"),
        ("status", "job-1"),
        ("poll", "job-1"),
        ("result", "job-1"),
    ]
    assert [c["try_number"] for c in job.contexts] == [1, 1, 2]


def test_new_process_with_the_same_scope_reconnects(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(WorkerDied):
        run_job(DictJob(system, in_poll=die), store=state)
    # A fresh job object and a plain scope handle, as a restarted process would have.
    result = run_job(DictJob(system), store=state)
    assert result == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1


def test_already_succeeded_returns_result_without_polling(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(WorkerDied):
        run_job(DictJob(system, in_poll=finish_then_die), store=state)
    system.calls.clear()

    assert run_job(DictJob(system), store=state) == {"rows": 42, "job": "job-1"}
    assert system.calls == [("status", "job-1"), ("result", "job-1")]
    assert system.submissions == 1
    assert state.get(RECORD_KEY)["succeeded"] is True  # cached from now on


def test_cached_success_never_asks_the_external_system(state: TaskStateStore) -> None:
    system = DictSystem()
    run_job(DictJob(system), store=state)
    system.forget("job-1")  # the external system no longer knows the job
    system.calls.clear()

    assert run_job(DictJob(system), store=state) == {"rows": 42, "job": "job-1"}
    assert system.calls == [("result", "job-1")]
    assert system.submissions == 1


def test_terminal_failure_resubmits_with_a_new_token(state: TaskStateStore) -> None:
    system = DictSystem()
    job = DictJob(system, in_poll=once(fail_job))
    result = run_job(job, store=state, retries=1)

    assert result == {"rows": 42, "job": "job-2"}
    assert system.submissions == 2
    first, second = system.submitted_tokens
    assert first and second and first != second
    assert state.get(RECORD_KEY)["token"] == second


def test_token_survives_retries_until_terminal_resubmit(state: TaskStateStore) -> None:
    system = DictSystem()
    # try 1 dies inside submit before the system accepts; try 2 dies mid-poll;
    # try 3 reconnects. One token throughout.
    job = FindableDictJob(system, before_submit=once(die), in_poll=once(die))
    run_job(job, store=state, retries=2)
    assert system.submissions == 1
    assert len(set(job.tokens_seen)) == 1
    assert state.get(RECORD_KEY)["token"] == job.tokens_seen[0]


def test_crash_after_accept_inside_submit_recovers_by_token(state: TaskStateStore) -> None:
    system = DictSystem()
    job = FindableDictJob(system, after_submit=once(die))
    result = run_job(job, store=state, retries=1)

    assert result == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1
    token = system.submitted_tokens[0]
    assert ("find", token) in system.calls
    assert state.get(RECORD_KEY)["external_id"] == "job-1"


def test_crash_before_accept_resubmits_with_the_same_token(state: TaskStateStore) -> None:
    system = DictSystem()
    job = FindableDictJob(system, before_submit=once(die))
    run_job(job, store=state, retries=1)

    assert system.submissions == 1
    assert job.tokens_seen[0] == job.tokens_seen[1] == system.submitted_tokens[0]


def test_without_find_job_a_retry_submits_with_the_same_token(state: TaskStateStore) -> None:
    system = DictSystem()
    job = DictJob(system, after_submit=once(die))
    run_job(job, store=state, retries=1)

    # find_job's default finds nothing, so the job is submitted again -- with the same
    # token, which a system honouring client tokens uses to drop the duplicate.
    assert system.submissions == 2
    assert system.submitted_tokens[0] == system.submitted_tokens[1]


def test_a_failed_poll_without_abort_leaves_the_job_running(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(WorkerDied):
        run_job(DictJob(system, in_poll=die), store=state)
    assert system.cancelled == []
    assert system.jobs["job-1"]["status"] == "RUNNING"


def test_durable_false_never_reads_or_writes(state: TaskStateStore) -> None:
    system = DictSystem()
    state.set(RECORD_KEY, {"v": 1, "token": "old", "external_id": "job-0"})
    before = snapshot(state)
    job = DictJob(system, durable=False)
    assert job.durable is False

    assert run_job(job, store=state) == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1
    assert ("status", "job-0") not in system.calls
    assert snapshot(state) == before


def test_airflow_mixin_id_is_honoured_on_a_retry(state: TaskStateStore) -> None:
    system = DictSystem()
    system.submit(None)  # job-1, submitted by a try that ran Airflow's own mixin
    state.set("dict_job_id", "job-1")

    result = DictJob(system).execute_resumable({"task_state_store": state, "try_number": 2})
    assert result == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1


def test_external_id_key_names_the_keys(state: TaskStateStore) -> None:
    class SparkJob(DictJob):
        external_id_key = "spark_job_id"

    run_job(SparkJob(DictSystem()), store=state)
    assert state.keys() == ["spark_job_id", "spark_job_id.resumable"]


def test_a_zombie_try_cannot_overwrite_the_record(state: TaskStateStore) -> None:
    system = DictSystem()
    retry = DictJob(system)

    def retry_runs_while_the_zombie_polls(job: DictJob, external_id: Any) -> None:
        run_job(retry, store=state)  # a newer attempt: reconnects and finishes

    zombie = DictJob(system, in_poll=retry_runs_while_the_zombie_polls)
    with pytest.raises(resumable.StaleAttemptError):
        run_job(zombie, store=state)  # its own write after the poll is fenced off
    assert system.submissions == 1
    assert state.get(RECORD_KEY)["succeeded"] is True
    assert ("result", "job-1") in system.calls


def test_no_store_warns_and_submits_fresh(caplog: pytest.LogCaptureFixture) -> None:
    system = DictSystem()
    with caplog.at_level(logging.WARNING, logger="resumable.jobs"):
        result = DictJob(system).execute_resumable({})
    assert result == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1
    assert "crash recovery is disabled" in caplog.text


def test_submit_returning_none_persists_no_id(state: TaskStateStore) -> None:
    class NoIdJob(DictJob):
        def submit_job(self, context: Any) -> Any:
            super().submit_job(context)

        def poll_until_complete(self, external_id: Any, context: Any) -> Any:
            assert external_id is None

        def get_job_result(self, external_id: Any, context: Any) -> Any:
            return "done"

    assert run_job(NoIdJob(DictSystem()), store=state) == "done"
    assert "external_id" not in state.get(RECORD_KEY)
    assert "dict_job_id" not in state.keys()


def test_missing_abstract_methods_fail_at_construction() -> None:
    class Incomplete(ResumableJobMixin):
        def submit_job(self, context: Any) -> Any:
            return "x"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_init_cooperates_with_other_bases() -> None:
    class Base:
        def __init__(self, *, task_id: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.task_id = task_id

    class Operator(DictJob, Base):
        pass

    op = Operator(DictSystem(), task_id="t", durable=False)
    assert (op.task_id, op.durable) == ("t", False)


def test_durable_from_airflow_default_args() -> None:
    class Base:
        def __init__(self, *, default_args: dict[str, Any] | None = None) -> None:
            self.default_args = default_args

    class Operator(DictJob, Base):
        pass

    assert Operator(DictSystem(), default_args={"durable": False}).durable is False
    assert Operator(DictSystem(), default_args={"durable": False}, durable=True).durable is True
    assert Operator(DictSystem(), default_args={"resume_on_retry": False}).durable is False
    with pytest.raises(resumable.ConfigurationError, match="two names"):
        Operator(DictSystem(), default_args={"resume_on_retry": True, "durable": False})
    # Airflow fills durable=False from default_args; the explicit keyword wins.
    defaults = {"durable": False}
    op = Operator(DictSystem(), default_args=defaults, durable=False, resume_on_retry=True)
    assert op.durable is True


def test_bad_durable_is_refused() -> None:
    with pytest.raises(resumable.ConfigurationError, match="durable must be a bool"):
        DictJob(DictSystem(), durable="yes")


def test_resume_on_retry_is_durable_under_airflows_newer_name(state: TaskStateStore) -> None:
    job = DictJob(DictSystem(), resume_on_retry=False)
    assert (job.resume_on_retry, job.durable) == (False, False)
    before = snapshot(state)
    run_job(job, store=state)
    assert snapshot(state) == before  # neither read nor written
    assert DictJob(DictSystem()).resume_on_retry is True
    assert DictJob(DictSystem(), resume_on_retry=True, durable=True).durable is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resume_on_retry": "no"}, "resume_on_retry must be a bool"),
        ({"resume_on_retry": False, "durable": True}, "one switch under two names"),
    ],
)
def test_bad_resume_on_retry_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(resumable.ConfigurationError, match=message):
        DictJob(DictSystem(), **kwargs)


def test_a_registered_resolver_supplies_the_store(state: TaskStateStore) -> None:
    from resumable.jobs import register_store_resolver

    def resolver(context: Any) -> Any:
        return context.get("test_resolver_store")  # only for contexts of this test

    register_store_resolver(resolver)
    register_store_resolver(resolver)  # twice: no effect
    system = DictSystem()
    context = {"test_resolver_store": state, "try_number": 1}
    with pytest.raises(WorkerDied):
        DictJob(system, in_poll=die).execute_resumable(context)
    assert DictJob(system).execute_resumable(context) == {"rows": 42, "job": "job-1"}
    assert system.submissions == 1  # the resolved store carried the job across runs
