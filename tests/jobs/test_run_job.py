"""run_job's contract, and the store round trips each decision path costs."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from dict_system import DictJob, DictSystem, FindableDictJob, die, fail_job, finish_then_die

import resumable
from resumable import ConfigurationError, TaskStateStore, run_job


@pytest.fixture
def state(store_url: str) -> Iterator[TaskStateStore]:
    with resumable.open_store(store_url) as store:
        yield store.scope("pipeline", "run-1")


def test_retries_reenter_with_increasing_try_numbers(state: TaskStateStore) -> None:
    system = DictSystem()
    failures = iter([True, True, False])

    def flaky(job: DictJob, external_id: Any) -> None:
        if next(failures):
            die()

    job = DictJob(system, in_poll=flaky)
    assert run_job(job, store=state, retries=2, retry_delay=0.01) == {"rows": 42, "job": "job-1"}
    assert [c["try_number"] for c in job.contexts] == [1, 1, 2, 3]  # submit, then 3 polls
    attempts = [c["task_state_store"].attempt for c in job.contexts]
    assert attempts[0] == attempts[1] < attempts[2] < attempts[3]  # a fenced handle per try
    assert system.submissions == 1


def test_the_last_error_propagates(state: TaskStateStore) -> None:
    system = DictSystem()
    with pytest.raises(Exception, match="worker died"):
        run_job(DictJob(system, in_poll=die), store=state, retries=1)
    assert system.count("poll") == 2
    assert system.submissions == 1


def test_user_context_is_passed_and_extended(state: TaskStateStore) -> None:
    job = DictJob(DictSystem())
    run_job(job, store=state, context={"region": "eu", "try_number": 99})
    assert job.contexts[0]["region"] == "eu"
    assert job.contexts[0]["try_number"] == 1
    assert job.contexts[0]["task_state_store"].namespace == "pipeline"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"job": object()}, "ResumableJobMixin instance"),
        ({"store": "sqlite:///x.db"}, "needs a TaskStateStore"),
        ({"retries": -1}, "retries must be"),
        ({"retries": 1.5}, "retries must be"),
        ({"retries": True}, "retries must be"),
        ({"retry_delay": -0.1}, "retry_delay must be"),
        ({"retry_delay": float("nan")}, "retry_delay must be"),
        ({"retry_delay": "1"}, "retry_delay must be"),
        ({"context": [("a", 1)]}, "context must be a mapping"),
    ],
)
def test_bad_arguments_raise_and_change_nothing(
    state: TaskStateStore, kwargs: dict[str, Any], message: str
) -> None:
    system = DictSystem()
    arguments: dict[str, Any] = {"job": DictJob(system), "store": state, **kwargs}
    job = arguments.pop("job")
    with pytest.raises(ConfigurationError, match=message):
        run_job(job, **arguments)
    assert state.keys() == []
    assert system.calls == []


def test_a_store_instead_of_a_scope_is_refused(store_url: str) -> None:
    with resumable.open_store(store_url) as store, pytest.raises(ConfigurationError, match="scope"):
        run_job(DictJob(DictSystem()), store=store)  # type: ignore[arg-type]


class CountingStore:
    """A real store handle that counts the calls (round trips) made through it."""

    def __init__(self, inner: TaskStateStore, *, with_update: bool = True) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        if with_update:
            self.update = self._update

    def get(self, key: str, default: Any = None) -> Any:
        self.calls["get"] += 1
        return self.inner.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.calls["set"] += 1
        self.inner.set(key, value)

    def _update(self, values: Mapping[str, Any]) -> None:
        self.calls["update"] += 1
        self.inner.update(values)

    @property
    def round_trips(self) -> int:
        return sum(self.calls.values())


def run_counted(job: DictJob, state: TaskStateStore, try_number: int = 1) -> CountingStore:
    counting = CountingStore(state)
    with contextlib.suppress(Exception):
        job.execute_resumable({"task_state_store": counting, "try_number": try_number})
    return counting


def test_round_trips_per_path(state: TaskStateStore) -> None:
    """The figures reported in docs/jobs.md: reconnect 2; fresh submit 3 before the poll."""
    system = DictSystem()
    trips = {}
    trips["fresh_submit"] = run_counted(DictJob(system), state).round_trips
    trips["already_succeeded (cached)"] = run_counted(DictJob(system), state).round_trips
    state.clear()
    run_counted(DictJob(system, in_poll=die), state)
    trips["reconnect"] = run_counted(DictJob(system), state).round_trips
    state.clear()
    run_counted(DictJob(system, in_poll=finish_then_die), state)
    trips["already_succeeded (asked)"] = run_counted(DictJob(system), state).round_trips
    state.clear()
    run_counted(DictJob(system, in_poll=fail_job), state)
    trips["terminal_resubmit"] = run_counted(DictJob(system), state).round_trips
    state.clear()
    run_counted(FindableDictJob(system, after_submit=die), state)
    trips["recover_by_token"] = run_counted(FindableDictJob(system), state).round_trips
    state.clear()
    run_counted(DictJob(system, before_submit=die), state)
    trips["resubmit_with_same_token"] = run_counted(DictJob(system), state).round_trips

    assert trips == {
        "fresh_submit": 4,  # read, intent, id (+ plain id, atomically), success cache
        "already_succeeded (cached)": 1,
        "reconnect": 2,  # read, success cache
        "already_succeeded (asked)": 2,
        "terminal_resubmit": 4,
        "recover_by_token": 3,
        # read, the intent rewritten (a fenced write: the fence checked again after
        # find_job, just before submit_job), id, success cache
        "resubmit_with_same_token": 4,
    }


def test_fresh_submit_takes_three_round_trips_before_the_poll(state: TaskStateStore) -> None:
    counted: dict[str, int] = {}

    def count_at_poll(job: DictJob, external_id: Any) -> None:
        counted["before_poll"] = job.contexts[0]["task_state_store"].round_trips

    counting = run_counted(DictJob(DictSystem(), in_poll=count_at_poll), state)
    assert counted["before_poll"] == 3
    assert counting.round_trips == 4


def test_a_store_without_update_gets_two_sets_for_the_id(state: TaskStateStore) -> None:
    counting = CountingStore(state, with_update=False)  # the shape of Airflow's store
    DictJob(DictSystem()).execute_resumable({"task_state_store": counting, "try_number": 1})
    assert counting.calls == Counter({"get": 1, "set": 4})
    assert state.get("dict_job_id") == "job-1"


def test_a_retry_without_a_record_also_reads_the_airflow_key(state: TaskStateStore) -> None:
    assert run_counted(DictJob(DictSystem()), state, try_number=2).calls["get"] == 2
