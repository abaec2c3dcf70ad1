"""HttpJob against a real job service on 127.0.0.1: crashes, retries, failures."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_factories import failing_job, service_job
from job_service import JobService
from resumable_providers.http._client import retry_after
from resumable_providers.http.jobs import HttpJob, HttpJobError

import resumable
from resumable.testing import check_job, memory_store

DEADLINE = 60.0


@pytest.fixture
def service() -> Iterator[JobService]:
    with JobService() as running:
        yield running


def posts(service: JobService) -> list[int]:
    """Status codes of the submits the service answered (0: dropped unanswered)."""
    return [
        status for method, path, status in service.requests if (method, path) == ("POST", "/jobs")
    ]


@pytest.mark.slow
def test_http_job_passes_the_conformance_kit(service: JobService) -> None:
    report = check_job(
        functools.partial(service_job, service.url),
        make_failing_job=functools.partial(failing_job, service.url),
    )
    assert report.passed, str(report)
    # Every submission the kit made carried an Idempotency-Key.
    assert all(job["key"] for job in service.jobs.values())


def test_submit_poll_and_result(service: JobService) -> None:
    job = service_job(service.url, seconds=0.2)
    assert resumable.run_job(job, store=memory_store().scope("http", "r")) == {"rows": 42}
    (submitted,) = service.jobs.values()
    assert submitted["key"] and submitted["status"] == "succeeded"


def test_503_and_429_are_retried_honouring_retry_after(service: JobService) -> None:
    service.inject(
        "POST",
        "/jobs",
        (503, {"error": "busy"}, {}),
        (429, {"error": "slow down"}, {"Retry-After": "0.2"}),
    )
    service.inject("GET", "/jobs/", (502, {"error": "bad gateway"}, {}))
    job = service_job(service.url, seconds=0.2)
    assert resumable.run_job(job, store=memory_store().scope("http", "r")) == {"rows": 42}
    assert posts(service) == [503, 429, 201]
    assert len(service.jobs) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    import httpx

    def answer(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))

    assert answer("3") == 3.0
    assert answer("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert answer("soon") is None


def test_a_4xx_fails_at_once_with_the_response_text(service: JobService) -> None:
    job = service_job(service.url, json={"seconds": "a while"})
    with pytest.raises(HttpJobError) as raised:
        resumable.run_job(job, store=memory_store().scope("http", "r"))
    assert raised.value.status_code == 400
    assert "seconds must be a number" in str(raised.value)
    assert posts(service) == [400]  # not retried


def test_retries_run_out_with_the_last_answer(service: JobService) -> None:
    service.inject("POST", "/jobs", *[(503, {"error": "down for maintenance"}, {})] * 3)
    job = service_job(service.url, request_attempts=3)
    with pytest.raises(HttpJobError, match=r"gave up after 3 attempts.*down for maintenance"):
        resumable.run_job(job, store=memory_store().scope("http", "r"))
    assert posts(service) == [503, 503, 503]


def test_a_refused_connection_is_retried_then_reported() -> None:
    job = service_job("http://127.0.0.1:9", request_attempts=2, request_retry_timeout=5.0)
    with pytest.raises(HttpJobError, match="failed after 2 attempts: ConnectError"):
        resumable.run_job(job, store=memory_store().scope("http", "r"))


def test_a_lost_answer_to_the_submit_is_resolved_by_the_idempotency_key(
    service: JobService,
) -> None:
    service.inject("POST", "/jobs", "drop")  # accepted, then the connection dies
    job = service_job(service.url, seconds=0.2, lookup_url=None)
    assert resumable.run_job(job, store=memory_store().scope("http", "r")) == {"rows": 42}
    assert posts(service) == [0, 200]  # the retry with the same key got the same job
    assert len(service.jobs) == 1


WORKER = """
import sys, os, signal
sys.path.insert(0, {tests!r})
from http_factories import service_job
import resumable

class DiesAfterSubmit(type(service_job({url!r}))):
    def submit_job(self, context):
        job_id = super().submit_job(context)
        if {die}:
            os.kill(os.getpid(), signal.SIGKILL)  # accepted; the id is never saved
        return job_id

job = DiesAfterSubmit(**{kwargs!r})
with resumable.open_store({store!r}) as store:
    print(resumable.run_job(job, store=store.scope("http", "run-1")))
"""


def test_a_process_killed_inside_submit_resubmits_with_the_same_key(
    service: JobService, tmp_path: Path
) -> None:
    kwargs = {
        "submit_url": f"{service.url}/jobs",
        "status_url": f"{service.url}/jobs/{{id}}",
        "result_url": f"{service.url}/jobs/{{id}}/result",
        "result_path": "data.value",
        "json": {"seconds": 0.3, "result": "ok"},
        "poll_interval": 0.1,
    }  # no lookup_url: the Idempotency-Key alone must prevent a duplicate
    store = f"sqlite:///{tmp_path / 'state.db'}"
    tests = str(Path(__file__).parent)
    for die, expected_code in ((True, -signal.SIGKILL), (False, 0)):
        code = WORKER.format(tests=tests, url=service.url, die=die, kwargs=kwargs, store=store)
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        assert done.returncode == expected_code, done.stderr
    assert done.stdout.strip() == "ok"
    assert (
        "resubmit_with_same_token" in done.stderr or "submitting with the same token" in done.stderr
    )
    assert posts(service) == [201, 200]
    assert len(service.jobs) == 1


def test_a_failed_job_raises_with_its_status(service: JobService) -> None:
    with pytest.raises(HttpJobError, match="failed 'failed'"):
        resumable.run_job(failing_job(service.url), store=memory_store().scope("http", "r"))


def test_cancel_without_a_cancel_url_only_logs(
    service: JobService, caplog: pytest.LogCaptureFixture
) -> None:
    job = service_job(service.url, cancel_url=None)
    job.cancel_job("j-1", {})
    assert "cannot be cancelled" in caplog.text
    assert service.requests == []


def test_find_job_without_a_lookup_url_is_none_and_404_is_none(service: JobService) -> None:
    assert service_job(service.url, lookup_url=None).find_job("k", {}) is None
    assert service_job(service.url).find_job("never-used", {}) is None


@pytest.mark.parametrize(
    "options",
    [
        {"submit_url": "ftp://x"},
        {"status_url": "http://x/jobs"},  # no {id}
        {"lookup_url": "http://x/by-key"},  # no {token}
        {"running": "running"},
        {"succeeded": ()},
        {"poll_interval": 0},
        {"timeout": float("nan")},
        {"headers": {"X": 1}},
        {"method": "PO ST"},
        {"request_attempts": 0},
    ],
)
def test_bad_arguments_raise_a_configuration_error(options: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(resumable.ConfigurationError):
        service_job("http://127.0.0.1:1", **options)


def test_the_provider_is_listed_with_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    from resumable.cli import main

    assert main(["providers", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (http,) = [row for row in rows if row["name"] == "http"]
    assert (http["distribution"], http["version"]) == ("resumable-provider-http", "0.1.0")
    assert isinstance(HttpJob, type)
