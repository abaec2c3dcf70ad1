"""Real Celery workers (prefork pool) against a test's own database and broker space.

Each cluster gets its own key prefix (Redis) or its own queue and exchange names
(RabbitMQ), so tests never see each other's messages, and cleanup deletes only what
the test created: no FLUSHDB, no purge of anybody else's queue.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

DEADLINE = 120.0  # a loaded machine starts a prefork worker slowly
REDIS_BROKER = os.environ.get("RESUMABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_BROKER = os.environ.get(
    "RESUMABLE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"
)

APP_HEADER = """
import json, os, time
from pathlib import Path

from celery import Celery

import resumable
from resumable import TaskOptions, get_context, task

_ENV = json.loads(os.environ["RESUMABLE_TEST_CELERY"])
app = Celery(_ENV["name"], broker=_ENV["broker"])
app.conf.update(
    task_default_queue=_ENV["queue"],
    control_exchange=_ENV["control"],
    event_exchange=_ENV["control"] + "-ev",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_transport_options=_ENV["transport_options"],
)
if _ENV["configure"]:
  resumable.configure(
    database_url=_ENV["database_url"],
    redis_url=_ENV.get("redis_url"),
    executor="celery",
    celery_app=app,
    heartbeat_interval=_ENV["heartbeat"],
    lease=_ENV["lease"],
    abort_poll_interval=0.2,
    progress_throttle=0.0,
  )

LOG = Path(__file__).with_suffix(".events")


def note(**event):
    with LOG.open("a") as out:
        out.write(json.dumps({**event, "pid": os.getpid(), "t": time.time()}) + "\\n")
"""


def eventually(condition: Callable[[], bool], timeout: float = DEADLINE) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class CeleryCluster:
    """One app module (tasks + configuration) and the Celery workers running it."""

    def __init__(
        self,
        directory: Path,
        database_url: str,
        source: str,
        *,
        broker: str = "redis",
        redis_url: str | None = None,
        lease: float = 2.0,
        heartbeat: float = 0.5,
        configure: bool = True,
    ) -> None:
        self.directory = directory
        self.token = uuid.uuid4().hex[:10]
        self.module_name = f"celery_tasks_{self.token}"
        self.queue = f"rq-{self.token}"
        self.broker_kind = broker
        self.prefix = f"rc-{self.token}:"
        self.env_config: dict[str, Any] = {
            "name": self.module_name,
            "broker": REDIS_BROKER if broker == "redis" else RABBITMQ_BROKER,
            "queue": self.queue,
            "control": f"rctl-{self.token}",
            "transport_options": {"global_keyprefix": self.prefix} if broker == "redis" else {},
            "database_url": database_url,
            "redis_url": redis_url,
            "lease": lease,
            "heartbeat": heartbeat,
            "configure": configure,
        }
        # configure=False: the app module never calls configure(); the environment
        # (RESUMABLE_EXECUTOR, RESUMABLE_CELERY_APP, ...) configures every process.
        self.extra_env: dict[str, str] = (
            {}
            if configure
            else {
                "RESUMABLE_EXECUTOR": "celery",
                "RESUMABLE_CELERY_APP": f"{self.module_name}:app",
                "RESUMABLE_DATABASE_URL": database_url,
            }
        )
        (directory / f"{self.module_name}.py").write_text(APP_HEADER + textwrap.dedent(source))
        self.workers: list[CeleryWorker] = []
        self.module: ModuleType | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment a process of this cluster needs."""
        import json

        return {
            **os.environ,
            **self.extra_env,
            "RESUMABLE_TEST_CELERY": json.dumps(self.env_config),
            "PYTHONPATH": os.pathsep.join([str(self.directory), os.environ.get("PYTHONPATH", "")]),
        }

    def load(self) -> ModuleType:
        """Import the app module here (this process then schedules onto the cluster)."""
        import json

        os.environ["RESUMABLE_TEST_CELERY"] = json.dumps(self.env_config)
        if str(self.directory) not in sys.path:
            sys.path.insert(0, str(self.directory))
        self.module = importlib.import_module(self.module_name)
        return self.module

    def start_worker(
        self,
        concurrency: int = 2,
        pool: str = "prefork",
        queues: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> CeleryWorker:
        """Start one more worker (consuming ``queues``, default: the cluster's queue;
        ``env``: extra environment variables) and wait until it is ready."""
        worker = CeleryWorker(
            self, len(self.workers) + 1, concurrency, pool, queues or (self.queue,), env or {}
        )
        self.workers.append(worker)
        return worker

    def events(self) -> list[dict[str, Any]]:
        """Everything the task bodies noted, in order."""
        import json

        path = self.directory / f"{self.module_name}.events"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def logs(self) -> str:
        """Every worker's log, concatenated."""
        return "\n".join(w.log() for w in self.workers)

    def close(self) -> None:
        """Kill the workers, forget the module, delete this cluster's broker objects."""
        for worker in self.workers:
            worker.close()
        sys.modules.pop(self.module_name, None)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.directory))
        os.environ.pop("RESUMABLE_TEST_CELERY", None)
        if self.broker_kind == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_BROKER)
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        else:
            _delete_amqp(self.queue, self.env_config["control"])
            _delete_amqp(f"{self.queue}-side", self.env_config["control"])


def _delete_amqp(queue: str, control: str) -> None:
    from kombu import Connection

    with Connection(RABBITMQ_BROKER, connect_timeout=5) as conn:
        channel = conn.channel()
        for name in (queue,):
            with contextlib.suppress(Exception):
                channel.queue_delete(name)
        for exchange in (queue, f"{control}.pidbox", f"reply.{control}.pidbox", f"{control}-ev"):
            with contextlib.suppress(Exception):
                channel = conn.channel()
                channel.exchange_delete(exchange)


class CeleryWorker:
    """One ``celery worker`` subprocess in a process group of its own."""

    def __init__(
        self,
        cluster: CeleryCluster,
        number: int,
        concurrency: int,
        pool: str,
        queues: tuple[str, ...],
        env: dict[str, str],
    ) -> None:
        self.hostname = f"w{number}-{cluster.token}@%h"
        self.log_path = cluster.directory / f"celery-w{number}-{cluster.token}.log"
        command = [
            sys.executable, "-m", "celery", "-A", cluster.module_name, "worker",
            "-P", pool, "-c", str(concurrency), "-n", self.hostname, "-Q", ",".join(queues),
            "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=cluster.directory, env={**cluster.env, **env}, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        if not eventually(lambda: " ready." in self.log(), DEADLINE):
            self.close()
            raise RuntimeError(f"celery worker did not start:\n{self.log()}")

    def log(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        """Kill whatever is left of the group, reap the worker, close its log."""
        if self.process.poll() is None:
            self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()
