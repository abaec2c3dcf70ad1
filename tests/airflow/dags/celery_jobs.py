"""The Celery app behind ``rsm_celery_kill_poll``; the test's worker runs ``celery -A celery_jobs``.

Both sides build the app from the same environment: the Airflow task process (which
sends the task through ``CeleryJobOperator``) and the Celery worker the test starts.
Everything in the shared Redis lives under the prefix ``RSM_AIRFLOW_CELERY_PREFIX`` (one
per test), used as key prefix and queue name, so nothing collides and nothing is flushed.
The app's settings and the worker come from the celery provider's test harness.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "providers" / "celery" / "tests"))

from celery_harness import make_app

PREFIX = os.environ.get("RSM_AIRFLOW_CELERY_PREFIX", "rsm-airflow-celery")

app = make_app("rsm_airflow_celery", PREFIX)


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
