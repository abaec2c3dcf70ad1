"""``resumable.celery.beat_schedule``: entries a real ``celery beat`` runs on workers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import resumable
import resumable.celery
from resumable.migrations.schema import state
from resumable.tasks import _services
from tests.celery.harness import CeleryCluster, eventually

pytestmark = pytest.mark.slow

TASKS = """
from datetime import timedelta

import resumable.celery

app.conf.beat_schedule = resumable.celery.beat_schedule(
    every=timedelta(seconds=1), retention_period_days=0
)


@task
def quick():
    pass
"""


def _state_rows() -> int:
    database = _services.current().repository.database
    with database.auto.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(state)).scalar_one())


def test_beat_entries_prune_tasks_and_purge_expired_state(
    cluster: Callable[..., CeleryCluster], database_url: str, tmp_path: Path
) -> None:
    c = cluster(TASKS)
    finished = c.module.quick()  # type: ignore[union-attr]  # inline: ends now
    assert finished.status == "success"
    store = _services.current().store
    store.scope("beat", "run").set("short", 1, retention=timedelta(milliseconds=1))
    store.scope("beat", "run").set("long", 1)
    assert _state_rows() == 2
    c.start_worker()
    beat = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", c.module_name, "beat",
            "-s", str(tmp_path / "beat-schedule"), "--max-interval", "1", "-l", "info",
        ],
        cwd=tmp_path, env=c.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert eventually(lambda: not resumable.list_tasks(), timeout=90)
        assert eventually(lambda: _state_rows() == 1, timeout=90)
    finally:
        beat.kill()
        beat.wait(10)
    assert "resumable.prune_tasks" in c.logs()
    assert "resumable.purge_expired_state" in c.logs()


def test_beat_schedule_validates_its_arguments() -> None:
    entries = resumable.celery.beat_schedule()
    assert set(entries) == {"resumable.prune_tasks", "resumable.purge_expired_state"}
    assert entries["resumable.prune_tasks"]["schedule"] == timedelta(hours=1)
    for bad in (
        {"every": timedelta(0)},
        {"every": 5},
        {"retention_period_days": -1},
        {"max_rows_per_run": 0},
    ):
        with pytest.raises(resumable.ConfigurationError):
            resumable.celery.beat_schedule(**bad)  # type: ignore[arg-type]
