"""The Celery app of the tests, and its tasks; the worker runs ``celery -A celery_app``.

Its key prefix and queue come from ``RSM_PROVIDER_CELERY_PREFIX`` (a fresh one per test
session, see ``celery_harness.py``), so nothing collides with other suites on the same
Redis, and nothing is ever flushed.
"""

from __future__ import annotations

import os
import time

from celery import Celery
from celery_harness import make_app as _make_app

PREFIX = os.environ.get("RSM_PROVIDER_CELERY_PREFIX", "rsm-provider-celery")


def make_app(prefix: str = PREFIX) -> Celery:
    return _make_app("rsm_provider_tests", prefix)


app = make_app()


@app.task(name="rsm_tests.sleep_then")
def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


@app.task(name="rsm_tests.fail_after")
def fail_after(seconds: float) -> None:
    time.sleep(seconds)
    raise ValueError("the task failed on purpose")
