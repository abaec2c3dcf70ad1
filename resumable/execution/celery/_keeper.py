"""The keeper: reaping, hard stops and lost messages, from every Celery pool process.

No special process: each pool process of each Celery worker with resumable loaded runs
one keeper thread, started when the pool process starts (after the fork, so it never
shares a connection or a lock with its parent). Once per heartbeat interval a keeper

- keeps this pool process's row in the live-worker registry (engine ``celery``: the
  task names registered here and the queues this worker consumes; deleted when the
  pool process shuts down);
- reaps attempts whose lease ran out, exactly as ``resumable worker`` does (the same
  guarded compare-and-sets, so any number of keepers may run at once);
- sends a message for every PENDING celery task that has none (an attempt the reaper
  sent back for a retry, or one a worker without its name let go), if this process
  has its name and consumes its queue: routed to the task's queue;
- sends again the message of a PENDING celery task that no worker claimed for longer
  than ``resumable_resend_after`` (the Celery app's setting; default three leases)
  after it was due: a scheduler that died between its commit and its publish, a broker
  that lost the message, a purged queue. The re-send replaces the row's message id
  (a compare-and-set on the old one, so one keeper of many sends it); if the original
  was only waiting in a long queue, whichever message comes second loses the claim and
  is dropped. Each further re-send of one attempt waits twice as long (up to eight
  times the grace);
- hard-stops tasks that ignore an abort for longer than ``kill_after``: Celery's
  ``revoke(terminate=True)`` makes the worker running the message SIGKILL its pool
  process, and the attempt ends ABORTED or TIMED_OUT with "killed: …".
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import socket
import threading
from datetime import datetime
from typing import Any

from resumable import _config
from resumable._db.types import utcnow
from resumable._errors import ResumableError
from resumable.execution.celery import _sql
from resumable.tasks import _services
from resumable.tasks._leases import kill_due
from resumable.tasks._registry import registered_names
from resumable.tasks._workers import DEFAULT_QUEUE, WorkerRegistry, queue_label

log = logging.getLogger("resumable.celery")

RESEND_AFTER = "resumable_resend_after"
"""The Celery app setting: seconds a due task's message may stay unclaimed before a
keeper sends it again (default: :data:`RESEND_AFTER_LEASES` leases)."""
RESEND_AFTER_LEASES = 3

_signals_connected = False
_keeper: Keeper | None = None
_keeper_lock = threading.Lock()
# When this Celery worker started (set in its main process, inherited by the pool
# processes it forks): a keeper takes nothing for lost before the worker has been up
# for a grace, even in a pool process replaced a moment ago (max_tasks_per_child).
_worker_started_at: datetime | None = None
_warned: set[str] = set()


class Keeper:
    """One keeper thread (see the module docstring)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resumable-keeper", daemon=True)
        self.worker_id = f"celery@{socket.gethostname()}:{os.getpid()}"
        self.started_at = utcnow()
        self.watching_since = _worker_started_at or self.started_at
        self._registered_in: WorkerRegistry | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        registry, self._registered_in = self._registered_in, None
        if registry is not None:
            # A clean stop: this process runs nothing more. Best effort; a row left
            # behind goes stale after a lease and is collected.
            with contextlib.suppress(Exception):
                registry.remove(self.worker_id)

    def _run(self) -> None:
        wait = 0.0  # the first round at once: the registry learns of this worker now
        while not self._stop.wait(wait):
            settings, _ = _config.current_settings()
            # Jitter spreads the keepers of many pool processes over the interval.
            wait = settings.heartbeat_interval * random.uniform(0.5, 1.0)
            if settings.executor != "celery":
                continue
            try:
                keep_once(_services.current(), self)
            except ResumableError as exc:  # database down: try again next round
                log.warning("celery keeper round failed: %s", exc)
            except Exception:  # a keeper must never die silently
                log.exception("celery keeper round failed")

    def beat(self, services: _services.Services, app: Any) -> tuple[list[str], list[str]]:
        """Refresh this process's registry row; return its task names and queues."""
        names = registered_names()
        queues = served_queues(app)
        registry = WorkerRegistry(services.repository.database)
        registry.beat(
            self.worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            engine="celery",
            task_names=names,
            queues=queues,
            started_at=self.started_at,
        )
        registry.collect(services.settings.lease)
        self._registered_in = registry
        return names, queues


def served_queues(app: Any) -> list[str]:
    """The queues this worker consumes (``-Q``; else the app's), its default queue
    named ``default`` as task rows and the registry name it."""
    queues = app.amqp.queues
    names = list(queues.consume_from or queues)
    default = app.conf.task_default_queue
    return [DEFAULT_QUEUE if name == default else str(name) for name in names]


def keep_once(services: _services.Services, keeper: Keeper | None = None) -> None:
    """One keeper round: register, reap, send missing messages, send again unclaimed
    ones, hard-stop."""
    from resumable.execution.celery._runner import send_noted
    from resumable.execution.worker._daemon import reap_and_fence

    app = getattr(services.executor, "app", None)
    if app is not None and keeper is not None:
        names, queues = keeper.beat(services, app)
    else:
        names, queues = registered_names(), [DEFAULT_QUEUE]
    reap_and_fence(services)
    if app is None:
        return
    database = services.repository.database
    for task_uuid, attempt, not_before, queue in _sql.without_message(database, names, queues):
        sent = send_noted(
            app,
            database,
            task_uuid,
            attempt,
            countdown=_sql.due_in(not_before),
            queue=queue,
            unsent_only=True,
        )
        if sent is None:
            continue  # another keeper sent it, or the task moved on
        log.info(
            "sent a message for a pending task task_uuid=%s attempt=%d queue=%s",
            task_uuid,
            attempt,
            queue_label(queue),
        )
    _resend_unclaimed(services, app, names, queues, keeper.watching_since if keeper else None)
    _hard_stop(services, app)


def resend_after(app: Any, lease: float) -> float:
    """Seconds a due PENDING task's message may stay unclaimed before a keeper sends it
    again: the app's ``resumable_resend_after``, else three leases."""
    value = app.conf.get(RESEND_AFTER)
    if value is None:
        return RESEND_AFTER_LEASES * lease
    if (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value > 0
    ):
        return float(value)
    if repr(value) not in _warned:
        _warned.add(repr(value))
        log.warning(
            "%s must be a positive number of seconds, got %r: using %g s (%d leases)",
            RESEND_AFTER,
            value,
            RESEND_AFTER_LEASES * lease,
            RESEND_AFTER_LEASES,
        )
    return RESEND_AFTER_LEASES * lease


def _resend_unclaimed(
    services: _services.Services,
    app: Any,
    names: list[str],
    queues: list[str],
    watching_since: datetime | None,
) -> None:
    """Send again the messages no worker claimed within the grace (see the module
    docstring): lost, or still waiting behind a backlog (then one is dropped).

    A keeper judges only once its worker has been up for a grace: when workers start
    after a pause (a deploy, an outage), the messages that waited in the queue meanwhile
    get a grace to be consumed before any is taken for lost.
    """
    from resumable.execution.celery._app import send

    database = services.repository.database
    grace = resend_after(app, services.settings.lease)
    if watching_since is not None and (utcnow() - watching_since).total_seconds() < grace:
        return
    for task_uuid, attempt, old_id, queue in _sql.unclaimed(database, names, queues, grace):
        new_id = _sql.resend_id(task_uuid, old_id)
        if not _sql.note_message(database, task_uuid, attempt, new_id, replacing=old_id):
            continue  # claimed meanwhile, or another keeper sent it again first
        try:
            send(app, task_uuid, message_id=new_id, queue=queue)
        except Exception as exc:  # kombu's errors differ per transport
            # Not sent: the row names no message, so a keeper sends one later.
            _sql.note_message(database, task_uuid, attempt, None, replacing=new_id)
            log.warning("could not send again task_uuid=%s: %s", task_uuid, exc)
            return  # the broker is down: the rest would fail alike
        log.info(
            "sent again the message of a pending task no worker claimed within "
            "%gs task_uuid=%s attempt=%d queue=%s message=%s replaces=%s",
            grace,
            task_uuid,
            attempt,
            queue_label(queue),
            new_id,
            old_id,
        )


def _hard_stop(services: _services.Services, app: Any) -> None:
    candidates = _sql.killable(services.repository.database)
    if not candidates:
        return
    now = utcnow()
    for seen in services.leases.watch(list(candidates)).values():
        reason = kill_due(
            status=seen.status,
            now=now,
            kill_after=seen.kill_after,
            started_at=seen.started_at,
            timeout=seen.timeout,
            aborting_since=seen.aborting_since,
        )
        message_id = candidates.get(seen.uuid)
        if reason is None or message_id is None:
            continue
        app.control.revoke(message_id, terminate=True, signal="SIGKILL")
        if services.leases.end_killed(seen, reason):
            services.signals.notify(seen.uuid)
            log.warning("task killed task_uuid=%s reason=%s", seen.uuid, reason)


def start_keeper() -> None:
    """Start this process's keeper (once)."""
    global _keeper
    with _keeper_lock:
        if _keeper is None:
            _keeper = Keeper()
            _keeper.start()


def stop_keeper() -> None:
    """Stop this process's keeper, if any."""
    global _keeper
    with _keeper_lock:
        keeper, _keeper = _keeper, None
    if keeper is not None:
        keeper.stop()


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    global _worker_started_at
    started = getattr(sender, "startup_time", None)
    _worker_started_at = started if isinstance(started, datetime) else utcnow()


def _on_process_init(**_: Any) -> None:
    # Services built by the parent before the fork would share its sockets: forget
    # them here (without closing what the parent still uses).
    _services.forget_after_fork()
    start_keeper()


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    # The threads pool has no pool process (and sends no worker_process_init): its
    # keeper runs in the worker itself. Prefork and solo start theirs above.
    pool = type(getattr(sender, "pool", None)).__module__
    if pool.endswith("concurrency.thread"):
        start_keeper()
    warn_unrunnable(getattr(sender, "app", None))


def warn_unrunnable(app: Any = None) -> None:
    """Once per worker, at start: warn about the pending task names on the queues it
    consumes that it cannot run (its app module does not import them)."""
    settings, _ = _config.current_settings()
    if settings.executor != "celery":
        return
    from resumable._db.engine import open_database
    from resumable.execution.celery._app import resolve_app
    from resumable.migrations import migrate

    # Not through _services: in the worker's main process that would start a signal
    # listener (a thread and a connection) for nothing; one look, then let go.
    try:
        app = app if app is not None else resolve_app(settings.celery_app)
        database = open_database(settings.database_url)
        try:
            migrate(database)
            stranded = WorkerRegistry(database).pending_elsewhere(
                "celery", registered_names(), served_queues(app)
            )
        finally:
            database.dispose()
    except Exception as exc:  # a start-up courtesy: never stop the worker for it
        log.warning("could not look for pending tasks: %s", exc)
        return
    if stranded:
        log.warning(
            "pending tasks this worker cannot run (no @task of that name imported) "
            "tasks=%s: they stay pending for a worker that imports them",
            ",".join(f"{name}@{queue}" for name, queue in stranded),
        )


def connect_signals() -> None:
    """Start keepers in Celery pool processes (once per process)."""
    global _signals_connected
    if _signals_connected:
        return
    from celery import signals

    signals.worker_init.connect(_on_worker_init, weak=False)
    signals.worker_process_init.connect(_on_process_init, weak=False)
    signals.worker_ready.connect(_on_worker_ready, weak=False)
    signals.worker_process_shutdown.connect(lambda **_: stop_keeper(), weak=False)
    _signals_connected = True
