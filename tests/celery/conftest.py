"""Fixtures for Celery tests: a cluster per test, on each SQL backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resumable import _config
from resumable.tasks import _services
from tests.celery.harness import CeleryCluster
from tests.conftest import require_server


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[Callable[..., CeleryCluster]]:
    """Call with a task module's source (and CeleryCluster keywords) to get a cluster
    whose app this process has loaded; everything is torn down afterwards."""
    made: list[CeleryCluster] = []

    def make(source: str, **options: object) -> CeleryCluster:
        if options.get("broker", "redis") == "redis" or options.get("redis_url"):
            require_server("redis")
        made.append(CeleryCluster(tmp_path, database_url, source, **options))  # type: ignore[arg-type]
        made[-1].load()
        return made[-1]

    yield make
    _services.shutdown(wait=True)
    _config.reset()
    for each in made:
        each.close()
