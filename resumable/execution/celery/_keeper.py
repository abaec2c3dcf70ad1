"""The keeper: reaping, hard stops and lost messages, from every Celery pool process.

No special process: each pool process of each Celery worker with resumable loaded runs
one keeper thread, started when the pool process starts (after the fork, so it never
shares a connection or a lock with its parent). Once per heartbeat interval a keeper

- reaps attempts whose lease ran out, exactly as ``resumable worker`` does (the same
  guarded compare-and-sets, so any number of keepers may run at once);
- sends a message for every PENDING celery task that has none (an attempt the reaper
  sent back for a retry);
- hard-stops tasks that ignore an abort for longer than ``kill_after``: Celery's
  ``revoke(terminate=True)`` makes the worker running the message SIGKILL its pool
  process, and the attempt ends ABORTED or TIMED_OUT with "killed: …".
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from resumable import _config
from resumable._db.types import utcnow
from resumable._errors import ResumableError
from resumable.execution.celery import _sql
from resumable.execution.celery._app import send
from resumable.tasks import _services
from resumable.tasks._leases import kill_due

log = logging.getLogger("resumable.celery")

_signals_connected = False
_keeper: Keeper | None = None
_keeper_lock = threading.Lock()


class Keeper:
    """One keeper thread (see the module docstring)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resumable-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            settings, _ = _config.current_settings()
            # Jitter spreads the keepers of many pool processes over the interval.
            if self._stop.wait(settings.heartbeat_interval * random.uniform(0.5, 1.0)):
                return
            if settings.executor != "celery":
                continue
            try:
                keep_once(_services.current())
            except ResumableError as exc:  # database down: try again next round
                log.warning("celery keeper round failed: %s", exc)
            except Exception:  # a keeper must never die silently
                log.exception("celery keeper round failed")


def keep_once(services: _services.Services) -> None:
    """One keeper round: reap, send missing messages, hard-stop."""
    from resumable.execution.worker._daemon import reap_and_fence

    app = getattr(services.executor, "app", None)
    reap_and_fence(services)
    if app is None:
        return
    database = services.repository.database
    for task_uuid, attempt, not_before in _sql.without_message(database):
        message_id = send(app, task_uuid, countdown=_sql.due_in(not_before))
        _sql.note_message(database, task_uuid, attempt, message_id)
        log.info("sent a message for a reaped task task_uuid=%s attempt=%d", task_uuid, attempt)
    _hard_stop(services, app)


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


def connect_signals() -> None:
    """Start keepers in Celery pool processes (once per process)."""
    global _signals_connected
    if _signals_connected:
        return
    from celery import signals

    signals.worker_process_init.connect(_on_process_init, weak=False)
    signals.worker_ready.connect(_on_worker_ready, weak=False)
    signals.worker_process_shutdown.connect(lambda **_: stop_keeper(), weak=False)
    _signals_connected = True
