"""External ids and results holding JSON null work on every backend (issue 9, item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dict_system import DictJob, DictSystem, die, once

import resumable
from resumable import TaskStateStore, run_job


@pytest.fixture
def state(store_url: str) -> Iterator[TaskStateStore]:
    with resumable.open_store(store_url) as store:
        yield store.scope("pipeline", "nulls")


class NullIdJob(DictJob):
    """Its external id is a dict, as many job APIs return one, with a null field."""

    def submit_job(self, context: Any) -> Any:
        return {"id": super().submit_job(context), "cluster": None, "tags": [None]}

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return super().get_job_status(external_id["id"], context)

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        return super().poll_until_complete(external_id["id"], context)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"rows": None, "of": super().get_job_result(external_id["id"], context)}


def test_external_id_with_nulls_reconnects_after_a_crash(state: TaskStateStore) -> None:
    system = DictSystem()
    job = NullIdJob(system, in_poll=once(die))
    result = run_job(job, store=state, retries=1)
    assert result == {"rows": None, "of": {"rows": 42, "job": "job-1"}}
    assert system.submissions == 1  # the retry reconnected to the stored id
    assert state.get("dict_job_id") == {"id": "job-1", "cluster": None, "tags": [None]}
