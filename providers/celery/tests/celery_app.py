"""The Celery app of the tests, and its tasks; the worker runs ``celery -A celery_app``.

Everything it puts in the shared Redis lives under a key prefix taken from
``RSM_PROVIDER_CELERY_PREFIX`` (a fresh one per test session), and its queue has the
same name, so nothing collides with other suites on the same server, and nothing is
ever flushed.
"""

from __future__ import annotations

import os
import time

from celery import Celery

REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("RSM_PROVIDER_CELERY_PREFIX", "rsm-provider-celery")


def make_app(prefix: str = PREFIX) -> Celery:
    app = Celery("rsm_provider_tests", broker=REDIS_URL, backend=REDIS_URL)
    app.conf.update(
        broker_transport_options={"global_keyprefix": f"{prefix}:"},
        result_backend_transport_options={"global_keyprefix": f"{prefix}:"},
        task_default_queue=prefix,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )
    return app


app = make_app()


@app.task(name="rsm_tests.sleep_then")
def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


@app.task(name="rsm_tests.fail_after")
def fail_after(seconds: float) -> None:
    time.sleep(seconds)
    raise ValueError("the task failed on purpose")
