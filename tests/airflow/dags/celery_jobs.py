"""The Celery app behind ``rsm_celery_kill_poll``; the test's worker runs ``celery -A celery_jobs``.

Both sides build the app from the same environment: the Airflow task process (which
sends the task through ``CeleryJobOperator``) and the Celery worker the test starts.
Everything in the shared Redis lives under the prefix ``RSM_AIRFLOW_CELERY_PREFIX`` (one
per test), used as key prefix and queue name, so nothing collides and nothing is flushed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

REDIS_URL = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("RSM_AIRFLOW_CELERY_PREFIX", "rsm-airflow-celery")

app = Celery("rsm_airflow_celery", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    broker_transport_options={"global_keyprefix": f"{PREFIX}:"},
    result_backend_transport_options={"global_keyprefix": f"{PREFIX}:"},
    task_default_queue=PREFIX,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)


@app.task(name="rsm_airflow_tests.work_until_released")
def work_until_released(root: str, rows: int) -> dict[str, int]:
    """Note that it started, work until the test releases it, return a result."""
    jobs = Path(root)
    with (jobs / "celery_starts.log").open("a") as log:
        log.write("started\n")
    deadline = time.monotonic() + 120
    while not (jobs / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return {"rows": rows}
