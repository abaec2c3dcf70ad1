"""``resumable worker``: claim PENDING tasks, run them in child processes, keep them honest.

One loop, no leader: every worker claims due tasks (compare-and-set, ``SKIP LOCKED`` on
PostgreSQL), hands each to an idle child of its prefork pool (``_prefork.py``: long-lived
children, one attempt at a time each, replaced when they die or are recycled), reaps
attempts whose lease expired
(any worker may; the moves are compare-and-sets), kills children that ignore an abort
for longer than ``kill_after``, and optionally prunes old tasks and expired state.

SIGTERM (or SIGINT) drains: stop claiming, let running attempts finish for up to
``grace`` seconds, then abort them, and finally kill what is left (those attempts are
retried like any lost one). A second SIGTERM skips the grace period.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing.connection
import os
import signal
import socket
import threading
import time
import uuid
from datetime import timedelta
from types import FrameType
from typing import Any

import attrs

from resumable import _config
from resumable._db.engine import mask_url
from resumable._db.types import utcnow
from resumable._errors import ConfigurationError, ResumableError
from resumable.execution.worker._child import import_task_modules, prepare_child, refuse
from resumable.execution.worker._prefork import PreforkPool, Recycling
from resumable.tasks import _services
from resumable.tasks._identity import state_scope
from resumable.tasks._lease_repository import Reaped
from resumable.tasks._leases import kill_due
from resumable.tasks._models import TaskScope, TaskStatus
from resumable.tasks._operations import cancel
from resumable.tasks._registry import registered, registered_names
from resumable.tasks._workers import DEFAULT_QUEUE, WorkerRegistry

log = logging.getLogger("resumable.worker")

IMPORTS_ENV = "RESUMABLE_IMPORTS"
# The first wait after a claim (see Worker._wait).
RECHECK_AFTER_CLAIM = 0.005
# How long a starting worker waits for Redis before it says it polls instead.
REDIS_START_WAIT = 3.0

# Imported once by the forkserver, so each task's child starts warm: without the
# drivers and channel modules here, every child spent ~80 ms importing them again.
# The forkserver skips the ones that are not installed.
WARM_MODULES = (
    "resumable.execution.worker._child",
    "resumable.coordination._push",
    "resumable.coordination._pg_notify",
    "resumable.coordination._redis_streams",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.postgresql.psycopg2",
    "psycopg",
    "redis",
)


@attrs.frozen(kw_only=True)
class WorkerOptions:
    """How one ``resumable worker`` behaves.

    Attributes:
        concurrency: Attempts running at once (one long-lived child process each).
        imports: Modules defining the ``@task`` functions this worker may run.
        queues: Queues served: only tasks on one of them are claimed (``default``:
            tasks scheduled without a queue).
        poll_interval: Seconds between two looks for due tasks when idle. Right after
            it claimed a task, a worker looks again sooner (5 ms, doubling up to this),
            so the next task of a burst does not wait a whole interval.
        grace: Seconds running attempts may take to finish after SIGTERM.
        prune_every: Seconds between prune runs (None: never prune here).
        retention_period_days: Terminal tasks older than this are pruned.
        max_rows_per_run: Upper bound of tasks deleted by one prune run.
        max_tasks_per_child: Attempts a child process runs before it is replaced
            (None: as many as it lives).
        max_memory_per_child: Resident KiB above which a child is replaced once its
            current attempt ends (None: no limit).
    """

    concurrency: int = 4
    imports: tuple[str, ...] = ()
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    poll_interval: float = 0.5
    grace: float = 30.0
    prune_every: float | None = None
    retention_period_days: float = 90.0
    max_rows_per_run: int = 10_000
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None

    def __attrs_post_init__(self) -> None:
        if (
            isinstance(self.concurrency, bool)
            or not isinstance(self.concurrency, int)
            or (self.concurrency < 1)
        ):
            raise ConfigurationError(f"concurrency must be an int >= 1, got {self.concurrency!r}")
        if not self.queues or any(
            not isinstance(q, str) or not q.strip() or len(q) > 255 for q in self.queues
        ):
            raise ConfigurationError(
                f"queues must be non-empty names of at most 255 characters, got {self.queues!r}"
            )
        for name in ("poll_interval", "grace", "retention_period_days"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ConfigurationError(f"{name} must be >= 0 seconds, got {value!r}")
        if self.prune_every is not None and not self.prune_every > 0:
            raise ConfigurationError(f"prune_every must be > 0, got {self.prune_every!r}")
        for name in ("max_tasks_per_child", "max_memory_per_child"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")


def _few(names: tuple[str, ...], shown: int = 20) -> str:
    more = len(names) - shown
    return ",".join(names[:shown]) + (f",… ({more} more)" if more > 0 else "")


def reap_and_fence(services: _services.Services) -> list[Reaped]:
    """End attempts whose lease expired (any process's) and fence them; return them.

    ``resumable worker`` processes and Celery keepers both reap through this.
    """
    reaped = services.leases.reap(services.settings.lease)
    for lost in reaped:
        fence(services, lost)
    return reaped


def fence(services: _services.Services, lost: Reaped) -> None:
    """Log a lost attempt, fence its ``ctx.store`` and wake whoever waits on it."""
    log.warning(
        "task attempt lost task_uuid=%s attempt=%d outcome=%s: %s",
        lost.uuid,
        lost.attempt,
        lost.decision.status.value,
        lost.decision.message,
    )
    # Bump the state scope's attempt: the lost attempt's ctx.store can no longer
    # write, even if its process is only paused and wakes up later.
    namespace, key = state_scope(
        lost.name, TaskScope(lost.scope), lost.task_key, lost.created_by, lost.uuid
    )
    services.store.scope(namespace, key).new_attempt()
    services.signals.notify(lost.uuid)


class Worker:
    """A worker process: see the module docstring.

    Args:
        options: Behaviour of this worker.
    """

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._hurry = threading.Event()
        # Written to by request_stop (also from a signal handler: os.write is safe there)
        # so the loop's wait ends at once instead of after a poll interval.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.started = threading.Event()
        self._pool: PreforkPool | None = None
        self._names: tuple[str, ...] = ()
        self._started_at = utcnow()
        # Running attempts that have a kill_after: the only ones _tend must watch.
        self._watched: set[str] = set()
        # The next wait's length: short after a claim, doubling up to poll_interval.
        self._pause = options.poll_interval

    # -- control ----------------------------------------------------------------------

    def request_stop(self, *, hurry: bool = False) -> None:
        """Begin a graceful stop (``hurry``: skip the grace period)."""
        if self._stopping.is_set() or hurry:
            self._hurry.set()
        self._stopping.set()
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"x")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info(
            "worker stopping signal=%s worker_id=%s", signal.Signals(signum).name, self.worker_id
        )
        self.request_stop()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT start a graceful stop (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        """Run until :meth:`request_stop` (or a signal); then drain and return."""
        self._names = self._load_tasks()
        settings, _ = _config.current_settings()
        services = _services.current()
        registry = WorkerRegistry(services.repository.database)
        pool = PreforkPool(
            self.options.concurrency,
            functools.partial(prepare_child, settings, self.options.imports),
            recycling=Recycling(
                max_tasks=self.options.max_tasks_per_child,
                max_memory_kib=self.options.max_memory_per_child,
            ),
            preload=[*WARM_MODULES, *self.options.imports],
        )
        self._pool = pool
        pool.fill(wait=60.0)
        try:
            self._beat(registry, settings)
        except ResumableError as exc:  # the database is down: the loop retries
            log.warning("could not register worker_id=%s error=%s", self.worker_id, exc)
        self._say_what_is_degraded(services, registry)
        log.info(
            "worker started worker_id=%s concurrency=%d database=%s signals=%s queues=%s tasks=%s",
            self.worker_id,
            self.options.concurrency,
            services.repository.url,
            type(services.signals).__name__,
            ",".join(self.options.queues),
            _few(self._names),
        )
        self.started.set()
        next_reap = 0.0
        next_prune = 0.0 if self.options.prune_every else float("inf")
        while not self._stopping.is_set():
            try:
                self._tend(pool, services)
                now = time.monotonic()
                if now >= next_reap:
                    self.reap(services)
                    self._beat(registry, settings)
                    next_reap = now + settings.heartbeat_interval
                if now >= next_prune and self.options.prune_every:
                    self.prune(services)
                    next_prune = now + self.options.prune_every
                pool.fill()
                self._claim(pool, services, settings)
            except ResumableError as exc:  # database down: keep going, retry next round
                log.warning("worker loop error worker_id=%s error=%s", self.worker_id, exc)
            self._wait(pool)
        # It claims nothing from now on: no longer a worker that can run anything.
        with contextlib.suppress(ResumableError):  # the database is down: the row goes stale
            registry.remove(self.worker_id)
        self._drain(pool, services)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _load_tasks(self) -> tuple[str, ...]:
        """Import the task modules; the names registered, or a one-line refusal."""
        if not self.options.imports:
            raise ConfigurationError(
                "resumable worker needs the modules that define your tasks: "
                f"--import MODULE (or ${IMPORTS_ENV}); without them it could run nothing"
            )
        for module in self.options.imports:
            try:
                import_task_modules([module])
            except ModuleNotFoundError as exc:
                if exc.name is None or not (module + ".").startswith(exc.name + "."):
                    raise  # the module exists; something it imports does not
                raise ConfigurationError(
                    f"cannot import the task module {module!r}: {exc}"
                ) from exc
        names = tuple(sorted(registered_names()))
        if not names:
            raise ConfigurationError(
                f"the modules imported ({', '.join(self.options.imports)}) define no @task "
                "functions: this worker could run nothing"
            )
        return names

    def _beat(self, registry: WorkerRegistry, settings: _config.Settings) -> None:
        """Refresh this worker's row in the live-worker registry; drop stale rows."""
        registry.beat(
            self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            engine="worker",
            task_names=self._names,
            queues=self.options.queues,
            started_at=self._started_at,
        )
        registry.collect(settings.lease)

    def _say_what_is_degraded(self, services: _services.Services, registry: WorkerRegistry) -> None:
        """Warnings at start: unreachable Redis, pending tasks this worker cannot run."""
        channel: Any = getattr(services.signals, "channel", None)
        redis = getattr(channel, "name", None) == "redis-streams"
        if redis:
            services.signals.listen()  # type: ignore[attr-defined]
        if redis and not channel.wait_connected(REDIS_START_WAIT):
            log.warning(
                "Redis does not answer url=%s: aborts reach running tasks by database "
                "polling every %gs until it answers (push resumes on its own)",
                mask_url(services.settings.redis_url or ""),
                services.settings.abort_poll_interval,
            )
        try:
            stranded = registry.pending_elsewhere("worker", self._names, self.options.queues)
        except ResumableError as exc:  # the loop will report the database
            log.warning("could not look for pending tasks error=%s", exc)
            return
        if stranded:
            log.warning(
                "pending tasks this worker cannot run (no @task of that name imported) "
                "tasks=%s imports=%s: they stay pending for a worker that imports them",
                ",".join(f"{name}@{queue}" for name, queue in stranded),
                ",".join(self.options.imports),
            )

    def _wait(self, pool: PreforkPool) -> None:
        """Sleep until a poll interval passed, a child ended, or a stop was requested.

        Waking on a child's exit frees its slot for the next due task right away: with
        a plain sleep, every attempt would cost up to a whole poll interval.
        """
        if self._stopping.is_set():
            return
        # Tasks come in bursts: after a claim, the next one is likely due already or
        # soon, and a whole poll interval would be its schedule-to-start latency. The
        # looks back off (5, 10, 20 ms, …) to the interval, so an idle worker costs the
        # database what it did: a burst's end adds about log2(interval / 5 ms) claims.
        timeout = min(self._pause, self.options.poll_interval)
        self._pause = min(self._pause * 2, self.options.poll_interval)
        ready = multiprocessing.connection.wait([self._wake_read, *pool.handles()], timeout=timeout)
        if self._wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_read, 1024)

    def _claim(
        self, pool: PreforkPool, services: _services.Services, settings: _config.Settings
    ) -> None:
        free = pool.free()
        if free <= 0:
            return
        # One statement claims for every idle child and returns the rows whole: each
        # child gets its row through its pipe and reads nothing before it runs it.
        claimed = services.leases.claim(free, self.worker_id, self._names, self.options.queues)
        if claimed:
            self._pause = RECHECK_AFTER_CLAIM
        for found in claimed:
            task_uuid, name = found.uuid, found.get("name")
            try:
                registered(name)  # the claim asked for registered names only
            except ConfigurationError:
                refuse(
                    services,
                    task_uuid,
                    f"no @task named {name!r} is registered in this worker "
                    f"(imports: {', '.join(self.options.imports) or 'none'}); "
                    "start it with --import MODULE",
                )
                continue
            pool.submit(task_uuid, found)
            if found.get("kill_after") is not None:
                self._watched.add(task_uuid)
            log.info(
                "task started task_uuid=%s name=%s attempt=%d worker_id=%s",
                task_uuid,
                name,
                found.get("attempt"),
                self.worker_id,
            )

    def _tend(self, pool: PreforkPool, services: _services.Services) -> None:
        """Notice children that ended, and hard-stop those that ignore an abort."""
        for ended in pool.collect():
            self._watched.discard(ended.key)
            if ended.settled:
                continue  # its final move is made: nothing to check
            why = (
                "its child process answered without ending it"
                if ended.exitcode is None
                else f"its process exited with code {ended.exitcode}"
            )
            self._after_child(services, ended.key, why)
        # Only attempts with a kill_after can ever be killed (a row's kill_after never
        # changes): a worker running tasks without one reads nothing here.
        running = [child for child in pool.running() if child.key in self._watched]
        if not running:
            return
        watched = services.leases.watch([child.key for child in running])
        now = utcnow()
        for child in running:
            seen = watched.get(child.key)
            if seen is None:
                continue
            reason = kill_due(
                status=seen.status,
                now=now,
                kill_after=seen.kill_after,
                started_at=seen.started_at,
                timeout=seen.timeout,
                aborting_since=seen.aborting_since,
            )
            if reason is None:
                continue
            pool.kill(child)
            self._watched.discard(child.key)
            if services.leases.end_killed(seen, reason):
                services.signals.notify(child.key)
            log.warning("task killed task_uuid=%s reason=%s", child.key, reason)

    def _after_child(self, services: _services.Services, key: str, why: str) -> None:
        # An attempt whose child ended or answered without the task ending (crash, OOM
        # kill, os._exit, an error outside the task) is lost: end it now instead of
        # waiting for its lease to run out.
        seen = services.leases.watch([key]).get(key)
        if seen is None or seen.status not in (TaskStatus.IN_PROGRESS, TaskStatus.ABORTING):
            return
        lost = services.leases.lose(key, seen.attempt, why)
        if lost is not None:
            self._fence(services, lost)

    # -- reaping and pruning ----------------------------------------------------------

    def reap(self, services: _services.Services) -> list[Reaped]:
        """End attempts whose lease expired (any worker's); return them."""
        return reap_and_fence(services)

    def _fence(self, services: _services.Services, lost: Reaped) -> None:
        fence(services, lost)

    def prune(self, services: _services.Services) -> tuple[int, int]:
        """Delete old terminal tasks and expired state; return both counts."""
        cutoff = utcnow() - timedelta(days=self.options.retention_period_days)
        tasks = services.repository.prune(cutoff, self.options.max_rows_per_run)
        state = services.store.purge_expired()
        log.info("pruned tasks=%d expired_state_keys=%d", tasks, state)
        return tasks, state

    # -- stopping ---------------------------------------------------------------------

    def _drain(self, pool: PreforkPool, services: _services.Services) -> None:
        deadline = time.monotonic() + (0 if self._hurry.is_set() else self.options.grace)
        log.info("worker draining running=%d grace=%.1fs", len(pool), self.options.grace)
        while len(pool) and time.monotonic() < deadline and not self._hurry.is_set():
            self._tend(pool, services)
            time.sleep(0.05)
        if len(pool):
            self._abort_remaining(pool, services)
        for child in pool.running():
            pool.kill(child)
            self._after_child(services, child.key, "killed when its worker shut down")
        pool.close()
        log.info("worker stopped worker_id=%s", self.worker_id)

    def _abort_remaining(self, pool: PreforkPool, services: _services.Services) -> None:
        for child in pool.running():
            try:
                cancel(child.key)  # as the system: aborts whatever can be aborted
            except ResumableError as exc:  # not abortable, or already finished
                log.info("not aborted at shutdown task_uuid=%s: %s", child.key, exc)
        deadline = time.monotonic() + min(5.0, max(self.options.grace, 1.0))
        while len(pool) and time.monotonic() < deadline:
            self._tend(pool, services)
            time.sleep(0.05)
