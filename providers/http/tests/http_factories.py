"""HttpJobs against the test job service, built at module level for check_job's children."""

from __future__ import annotations

from typing import Any

from resumable_providers.http.jobs import HttpJob


def service_job(url: str, *, seconds: float = 5.0, fail: bool = False, **options: Any) -> HttpJob:
    """A job on the service at ``url`` that runs ``seconds`` and returns ``{"rows": 42}``."""
    defaults: dict[str, Any] = {
        "submit_url": f"{url}/jobs",
        "status_url": f"{url}/jobs/{{id}}",
        "result_url": f"{url}/jobs/{{id}}/result",
        "cancel_url": f"{url}/jobs/{{id}}/cancel",
        "lookup_url": f"{url}/jobs/by-key/{{token}}",
        "json": {"seconds": seconds, "fail": fail, "result": {"rows": 42}},
        "result_path": "data.value",
        "poll_interval": 0.1,
        "timeout": 5.0,
        "request_retry_timeout": 20.0,
    }
    return HttpJob(**{**defaults, **options})


def failing_job(url: str) -> HttpJob:
    return service_job(url, seconds=0.2, fail=True)
