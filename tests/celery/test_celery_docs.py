"""docs/celery.md's walkthrough, run for real: two workers on Redis, two on RabbitMQ.

tests/docs only compiles those blocks (they need servers); here they run, with the
page's queue and control exchange renamed so the run is isolated like any other test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.celery.harness import RABBITMQ_BROKER, REDIS_BROKER, _delete_amqp
from tests.conftest import POSTGRES_URL, _drop_postgres_schema, require_server

pytestmark = pytest.mark.slow

PAGE = Path(__file__).resolve().parents[2] / "docs" / "celery.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)


def test_walkthrough_runs_on_both_brokers(tmp_path: Path) -> None:
    require_server("postgres")
    require_server("redis")
    module, _usage, walkthrough = _blocks()[:3]
    assert "# pipeline.py" in module and "for kind, broker in BROKERS.items()" in walkthrough
    token = uuid.uuid4().hex[:10]
    queue, control, prefix = f"docs-{token}", f"docs-ctl-{token}", f"docs-{token}:"
    isolated = module.replace(
        'app.conf.task_default_queue = "pipeline"',
        f'app.conf.task_default_queue = "{queue}"\n'
        f'app.conf.control_exchange = "{control}"\n'
        "if app.conf.broker_url.startswith('redis'):\n"
        f'    app.conf.broker_transport_options = {{"global_keyprefix": "{prefix}"}}',
    )
    assert isolated != module
    (tmp_path / "pipeline.py").write_text(isolated)
    schema = f"docs_{token}"
    joiner = "&" if "?" in POSTGRES_URL else "?"
    env = {
        **os.environ,
        "PIPELINE_DATABASE": f"{POSTGRES_URL}{joiner}schema={schema}",
        "DOCS_REDIS_BROKER": REDIS_BROKER,
        "DOCS_AMQP_BROKER": RABBITMQ_BROKER,
        "RESUMABLE_HOME": str(tmp_path / "home"),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", walkthrough],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "redis ran on w" in done.stdout and "rabbitmq ran on w" in done.stdout
    finally:
        _drop_postgres_schema(schema)
        _delete_amqp(queue, control)
        import redis

        client = redis.Redis.from_url(REDIS_BROKER)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
