"""CeleryJob with a real Celery worker subprocess on Redis."""

from __future__ import annotations

import functools
import json

import pytest
from celery_app import make_app
from celery_factories import failing, sleeper
from resumable_providers.celery.jobs import SENT, CeleryJob, CeleryJobError

import resumable
from resumable.testing import check_job, memory_store


@pytest.mark.slow
def test_celery_job_passes_the_conformance_kit(worker: str) -> None:
    report = check_job(
        functools.partial(sleeper, worker),
        make_failing_job=functools.partial(failing, worker),
    )
    assert report.passed, str(report)


def test_the_result_comes_back_and_the_token_is_the_task_id(worker: str) -> None:
    job = sleeper(worker, seconds=0.1)
    run = memory_store().scope("celery", "r")
    assert resumable.run_job(job, store=run) == {"rows": 42}
    record = run.get("celery_task_id.resumable")
    assert record["external_id"] == record["token"]
    assert make_app(worker).AsyncResult(record["token"]).state == "SUCCESS"


def test_a_failing_task_fails_the_job_with_its_error(worker: str) -> None:
    with pytest.raises(CeleryJobError, match="ended FAILURE: ValueError"):
        resumable.run_job(failing(worker), store=memory_store().scope("celery", "r"))


def test_find_job_knows_a_sent_task_and_only_that(worker: str) -> None:
    job = sleeper(worker, seconds=0.1)
    assert job.find_job("never-sent", {}) is None
    task_id = job.submit_job({})
    assert job.find_job(task_id, {}) == task_id
    assert job.get_job_status(task_id, {}) in (SENT, "SUCCESS")
    job.poll_until_complete(task_id, {})
    assert job.get_job_result(task_id, {}) == {"rows": 42}


def test_cancel_revokes_and_terminates_a_running_task(worker: str) -> None:
    job = sleeper(worker, seconds=30)
    task_id = job.submit_job({})
    job.cancel_job(task_id, {})
    with pytest.raises(CeleryJobError, match="REVOKED"):
        job.poll_until_complete(task_id, {})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"task_name": ""},
        {"args": "abc"},
        {"kwargs": [1]},
        {"app": object()},
        {"poll_interval": 0},
        {"terminate": "yes"},
    ],
)
def test_bad_arguments_raise_a_configuration_error(kwargs: dict) -> None:  # type: ignore[type-arg]
    arguments = {"task_name": "rsm_tests.sleep_then", "app": make_app("unused"), **kwargs}
    with pytest.raises(resumable.ConfigurationError):
        CeleryJob(arguments.pop("task_name"), **arguments)


def test_the_provider_is_listed_with_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    from resumable.cli import main

    assert main(["providers", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (celery,) = [row for row in rows if row["name"] == "celery"]
    assert (celery["distribution"], celery["version"]) == ("resumable-provider-celery", "0.1.0")
