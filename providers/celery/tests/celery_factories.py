"""CeleryJobs for the tests, built at module level so check_job's children can too."""

from __future__ import annotations

from celery_app import make_app
from resumable_providers.celery.jobs import CeleryJob


def sleeper(prefix: str, seconds: float = 5.0) -> CeleryJob:
    return CeleryJob(
        "rsm_tests.sleep_then",
        args=(seconds, {"rows": 42}),
        app=make_app(prefix),
        poll_interval=0.1,
        terminate=True,
    )


def failing(prefix: str) -> CeleryJob:
    return CeleryJob("rsm_tests.fail_after", args=(0.2,), app=make_app(prefix), poll_interval=0.1)
