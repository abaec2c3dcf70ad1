"""A stale attempt leaves no orphan job (issue 15, item 1), on every backend.

Runner A is fenced off while it is inside ``submit_job``: a hook there runs runner B to
completion on the same scope (as if A had been paused that long). Then A goes on, its id
write fails with StaleAttemptError, and A must either leave its job to B (B adopted it)
or cancel it. The same with real paused processes is in test_job_pause.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dict_system import DictJob, DictSystem, FindableDictJob

import resumable
from resumable import StaleAttemptError, TaskStateStore, run_job
from resumable.jobs import _orphans

RESULT_OF = {"job-1": {"rows": 42, "job": "job-1"}, "job-2": {"rows": 42, "job": "job-2"}}


@pytest.fixture
def state(store_url: str) -> Iterator[TaskStateStore]:
    with resumable.open_store(store_url) as store:
        yield store.scope("pipeline", "orphans")


def run_b_inside(state: TaskStateStore, system: DictSystem, job_class: type[DictJob]) -> Any:
    """A hook that runs runner B to completion, and the list B's result lands in."""
    results: list[Any] = []

    def hook(job: DictJob, value: Any) -> None:
        results.append(run_job(job_class(system), store=state))

    return hook, results


def test_paused_before_accept_cancels_its_own_job(state: TaskStateStore) -> None:
    system = DictSystem()
    hook, b_results = run_b_inside(state, system, DictJob)
    a = DictJob(system, before_submit=hook)
    with pytest.raises(StaleAttemptError):
        run_job(a, store=state, retries=3)  # stale: never retried
    # B submitted job-1 with A's token (it found A's intent); A's job-2 came after.
    assert b_results == [RESULT_OF["job-1"]]
    assert system.submissions == 2
    assert system.cancelled == ["job-2"]
    assert state.get("dict_job_id") == "job-1"


def test_paused_after_accept_leaves_the_job_b_adopted(state: TaskStateStore) -> None:
    system = DictSystem()
    hook, b_results = run_b_inside(state, system, FindableDictJob)
    a = FindableDictJob(system, after_submit=hook)
    with pytest.raises(StaleAttemptError):
        run_job(a, store=state)
    assert b_results == [RESULT_OF["job-1"]]  # B found A's job by its token
    assert system.submissions == 1
    assert system.cancelled == []


def test_paused_after_accept_without_find_job_cancels(state: TaskStateStore) -> None:
    system = DictSystem()
    hook, b_results = run_b_inside(state, system, DictJob)
    a = DictJob(system, after_submit=hook)
    with pytest.raises(StaleAttemptError):
        run_job(a, store=state)
    assert b_results == [RESULT_OF["job-2"]]  # B could not find job-1: it submitted job-2
    assert system.cancelled == ["job-1"]


class SlowFindJob(FindableDictJob):
    """find_job answers, then B runs to completion before the answer gets back to A."""

    def __init__(self, system: DictSystem, state: TaskStateStore) -> None:
        super().__init__(system)
        self.state = state
        self.b_results: list[Any] = []

    def find_job(self, token: str, context: Any) -> Any:
        answer = super().find_job(token, context)
        self.b_results.append(run_job(FindableDictJob(self.system), store=self.state))
        return answer


def test_fence_is_checked_again_before_submit(state: TaskStateStore) -> None:
    system = DictSystem()
    state.new_attempt().set("dict_job_id.resumable", {"v": 1, "token": "t-1"})  # died in submit
    a = SlowFindJob(system, state)
    with pytest.raises(StaleAttemptError):
        run_job(a, store=state)
    assert a.b_results == [RESULT_OF["job-1"]]
    assert system.submitted_tokens == ["t-1"]  # B's only: A stopped before submitting


@pytest.mark.parametrize(("job_class", "cancelled"), [(DictJob, ["job-1"]), (FindableDictJob, [])])
def test_newer_attempt_that_records_nothing(
    state: TaskStateStore,
    monkeypatch: pytest.MonkeyPatch,
    job_class: type[DictJob],
    cancelled: list[str],
) -> None:
    # The newer attempt started and died before recording a job: A waits for it, then
    # leaves its job for find_job to adopt, or cancels it when nothing could find it.
    monkeypatch.setattr(_orphans, "ORPHAN_WAIT_SECONDS", 0.3)
    system = DictSystem()
    a = job_class(system, after_submit=lambda job, job_id: state.new_attempt())
    with pytest.raises(StaleAttemptError):
        run_job(a, store=state)
    assert system.cancelled == cancelled
