"""A real Celery worker subprocess on Redis for the celery provider's tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery_harness import require_redis, running_worker

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # Celery's Redis result backend still calls redis-py's deprecated setex; not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore:Call to deprecated setex:DeprecationWarning")


@pytest.fixture(scope="session")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``celery worker`` on a queue and key prefix of its own; yield the prefix."""
    require_redis()
    prefix = f"rsm-provider-celery-{uuid.uuid4().hex[:8]}"
    # celery_app builds its app from it: in the worker and in every process started here.
    os.environ["RSM_PROVIDER_CELERY_PREFIX"] = prefix
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    with running_worker("celery_app", HERE, prefix, log_path, concurrency=2):
        yield prefix
