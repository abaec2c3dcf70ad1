"""Settings of the task framework: from ``configure()``, else ``RESUMABLE_*`` variables.

``configure()`` replaces the whole previous configuration (keys not passed go back to
their environment value or default), and the task runtime built on the old settings
is closed, so a test or an application can switch databases cleanly.

Where things live, one rule for every entry point (``configure()``, ``open_store()``,
``resumable worker``, ``resumable tasks``, ``resumable store``, ``resumable db migrate``):

- the **task database** (tasks and their ``ctx.store``): ``configure(database_url=)``,
  else ``RESUMABLE_DATABASE_URL``, else the embedded SQLite file;
- the **checkpoint store** of ``open_store()`` with no URL: ``RESUMABLE_STORE_URL``,
  else ``RESUMABLE_DATABASE_URL``, else the same embedded file.

So one variable, ``RESUMABLE_DATABASE_URL``, puts everything in one database; setting
``RESUMABLE_STORE_URL`` as well moves standalone checkpoints elsewhere (Redis, say).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

import attrs

from resumable._db.engine import embedded_database_path, mask_url
from resumable._errors import ConfigurationError

DATABASE_URL_ENV = "RESUMABLE_DATABASE_URL"
STORE_URL_ENV = "RESUMABLE_STORE_URL"
REDIS_URL_ENV = "RESUMABLE_REDIS_URL"
EXECUTOR_ENV = "RESUMABLE_EXECUTOR"
CELERY_APP_ENV = "RESUMABLE_CELERY_APP"

EXECUTORS = ("inline", "thread", "worker", "celery")

DEFAULT_EXECUTOR = "thread"
DEFAULT_ABORT_POLL_INTERVAL = 1.0
DEFAULT_PROGRESS_THROTTLE = 2.0
DEFAULT_MAX_WORKERS = 4
DEFAULT_HEARTBEAT_INTERVAL = 10.0
DEFAULT_LEASE = 30.0


def embedded_database_url() -> str:
    """The embedded default: the same SQLite file the checkpoint store uses by default.

    One file holds tasks and their ``ctx.store`` state, so an embedded installation has
    a single database to back up or delete.
    """
    return f"sqlite:///{embedded_database_path() / 'state.db'}"


def default_database_url() -> str:
    """The task database when ``configure()`` names none: ``RESUMABLE_DATABASE_URL``,
    else the embedded SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or embedded_database_url()


def default_store_url() -> str:
    """The checkpoint store when ``open_store()`` gets no URL: ``RESUMABLE_STORE_URL``,
    else the task database from the environment (``RESUMABLE_DATABASE_URL``, else the
    embedded SQLite file), so one variable moves everything to one database."""
    return os.environ.get(STORE_URL_ENV) or default_database_url()


def _positive_seconds(value: Any, what: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{what} must be a number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{what} must be positive, got {value!r}")
    return float(value)


def _url(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a non-empty URL string, got {value!r}")
    return value


def _database_url(value: Any) -> str:
    url = _url(value, "database_url")
    if url is None or url.split(":", 1)[0].split("+", 1)[0] not in (
        "sqlite",
        "postgresql",
        "postgres",
    ):
        raise ConfigurationError(f"database_url must be sqlite:///… or postgresql://…, got {url!r}")
    return url


def _redis_url(value: Any) -> str | None:
    url = _url(value, "redis_url")
    if url is not None:
        from resumable._errors import StoreUnavailableError
        from resumable.store._urls import redis_db

        try:
            redis_db(url, mask_url(url))  # not a Redis URL, or /abc as the database
        except StoreUnavailableError as exc:
            raise ConfigurationError(f"redis_url: {exc}") from None
    return url


def _executor(value: Any) -> str:
    if value not in EXECUTORS:
        raise ConfigurationError(f"executor must be one of {', '.join(EXECUTORS)}, got {value!r}")
    return str(value)


def _abort_poll_interval(value: Any) -> float:
    return _positive_seconds(value, "abort_poll_interval")


def _progress_throttle(value: Any) -> float:
    return _positive_seconds(value, "progress_throttle", allow_zero=True)


def _max_workers(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_workers must be a positive int, got {value!r}")
    return value


def _heartbeat_interval(value: Any) -> float:
    return _positive_seconds(value, "heartbeat_interval")


def _lease(value: Any) -> float:
    return _positive_seconds(value, "lease")


def _celery_app(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        module, _, attribute = value.partition(":")
        if not module or not attribute:
            raise ConfigurationError(
                f"celery_app must be a Celery app or 'module:attribute', got {value!r}"
            )
        return value
    if not callable(getattr(value, "send_task", None)) or not callable(
        getattr(value, "task", None)
    ):
        raise ConfigurationError(f"celery_app must be a Celery app, got {value!r}")
    return value


@attrs.frozen(kw_only=True)
class Settings:
    """The effective task settings, checked when built.

    Attributes:
        database_url: SQLite or PostgreSQL URL holding tasks and their ``ctx.store``.
        redis_url: Redis URL for push delivery of signals, or None.
        executor: ``inline``, ``thread`` or ``worker``.
        abort_poll_interval: Seconds between database polls for aborts and completion.
        progress_throttle: Minimum seconds between two progress writes of one task.
        max_workers: Threads of the ``thread`` executor.
        heartbeat_interval: Seconds between heartbeats of a running attempt.
        lease: Seconds without a heartbeat after which an attempt is presumed dead.
        celery_app: The Celery app of the ``celery`` executor, or its ``module:attribute``
            path (resolved when first used); None for the other executors.

    Raises:
        ConfigurationError: a value is invalid (the message names it).
    """

    database_url: str = attrs.field(converter=_database_url)
    redis_url: str | None = attrs.field(default=None, converter=_redis_url)
    executor: str = attrs.field(default=DEFAULT_EXECUTOR, converter=_executor)
    abort_poll_interval: float = attrs.field(
        default=DEFAULT_ABORT_POLL_INTERVAL, converter=_abort_poll_interval
    )
    progress_throttle: float = attrs.field(
        default=DEFAULT_PROGRESS_THROTTLE, converter=_progress_throttle
    )
    max_workers: int = attrs.field(default=DEFAULT_MAX_WORKERS, converter=_max_workers)
    heartbeat_interval: float = attrs.field(
        default=DEFAULT_HEARTBEAT_INTERVAL, converter=_heartbeat_interval
    )
    lease: float = attrs.field(default=DEFAULT_LEASE, converter=_lease)
    celery_app: Any = attrs.field(default=None, converter=_celery_app)

    @celery_app.validator
    def _celery_app_for_celery(self, _attribute: attrs.Attribute[Any], app: Any) -> None:
        if self.executor == "celery" and app is None:
            raise ConfigurationError(
                'executor="celery" needs celery_app=<your Celery app> '
                f"(or {CELERY_APP_ENV}=module:attribute)"
            )
        if self.executor != "celery" and app is not None:
            raise ConfigurationError(
                f'celery_app is only used with executor="celery", not {self.executor!r}'
            )

    @lease.validator
    def _lease_outlasts_heartbeats(self, _attribute: attrs.Attribute[float], lease: float) -> None:
        # Two missed heartbeats must not cost the lease, or a slow database would make
        # healthy attempts look dead.
        if lease < 2 * self.heartbeat_interval:
            raise ConfigurationError(
                f"lease ({lease:g} s) must be at least twice heartbeat_interval "
                f"({self.heartbeat_interval:g} s)"
            )


def build_settings(
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    executor: str | None = None,
    abort_poll_interval: float = DEFAULT_ABORT_POLL_INTERVAL,
    progress_throttle: float = DEFAULT_PROGRESS_THROTTLE,
    max_workers: int = DEFAULT_MAX_WORKERS,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    lease: float = DEFAULT_LEASE,
    celery_app: Any = None,
) -> Settings:
    """Fill the gaps from the environment and defaults; :class:`Settings` checks the rest."""
    database = _url(database_url, "database_url") or _url(default_database_url(), DATABASE_URL_ENV)
    redis = _url(redis_url, "redis_url") or _url(
        os.environ.get(REDIS_URL_ENV) or None, REDIS_URL_ENV
    )
    chosen = executor if executor is not None else os.environ.get(EXECUTOR_ENV) or DEFAULT_EXECUTOR
    if celery_app is None and chosen == "celery":
        # Only the celery executor reads it: a shell with RESUMABLE_CELERY_APP set may
        # still run `resumable tasks list` (which uses the worker executor).
        celery_app = os.environ.get(CELERY_APP_ENV) or None
    return Settings(
        database_url=database,
        redis_url=redis,
        executor=chosen,
        abort_poll_interval=abort_poll_interval,
        progress_throttle=progress_throttle,
        max_workers=max_workers,
        heartbeat_interval=heartbeat_interval,
        lease=lease,
        celery_app=celery_app,
    )


_configure_hooks: list[Callable[[Settings], None]] = []


def on_configure(hook: Callable[[Settings], None]) -> None:
    """Call ``hook(settings)`` in every ``configure()``, before the settings take effect
    (an engine registering itself: the Celery executor puts its task on the app). A hook
    that raises leaves the previous configuration in force."""
    if hook not in _configure_hooks:
        _configure_hooks.append(hook)


_lock = threading.Lock()
_settings: Settings | None = None
_generation = 0


def configure(
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    executor: str | None = None,
    abort_poll_interval: float = DEFAULT_ABORT_POLL_INTERVAL,
    progress_throttle: float = DEFAULT_PROGRESS_THROTTLE,
    max_workers: int = DEFAULT_MAX_WORKERS,
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    lease: float = DEFAULT_LEASE,
    celery_app: Any = None,
) -> Settings:
    """Configure the task framework, replacing any previous configuration.

    Args:
        database_url: Where tasks and their ``ctx.store`` live (``sqlite:///…`` or
            ``postgresql://…``). None: ``RESUMABLE_DATABASE_URL``, else the embedded
            SQLite file.
        redis_url: Redis for push delivery of aborts and completions (a Redis stream).
            None: ``RESUMABLE_REDIS_URL``; without Redis, a PostgreSQL database pushes
            through LISTEN/NOTIFY, and SQLite falls back to polling.
        executor: ``"thread"`` (default: worker threads in this process), ``"inline"``
            (everything runs in the caller), or ``"worker"`` (scheduled tasks stay
            PENDING for ``resumable worker`` processes), or ``"celery"`` (scheduled
            tasks go to Celery workers; needs ``celery_app``). None:
            ``RESUMABLE_EXECUTOR``.
        abort_poll_interval: Seconds between database polls for aborts (default 1).
        progress_throttle: Minimum seconds between progress writes (default 2).
        max_workers: Threads of the ``thread`` executor (default 4).
        heartbeat_interval: Seconds between heartbeats of a running attempt (default 10).
        lease: Seconds without a heartbeat after which a reaper (in ``resumable worker``)
            fails the attempt and retries it if it has retries left (default 30; at
            least twice ``heartbeat_interval``).
        celery_app: The Celery app of ``executor="celery"`` (or ``"module:attribute"``;
            None: ``RESUMABLE_CELERY_APP``). The Celery task ``resumable.run_task`` is
            registered on it.

    Returns:
        The effective settings.

    Raises:
        ConfigurationError: an invalid value; the previous configuration stays.
    """
    global _settings, _generation
    settings = build_settings(
        database_url=database_url,
        redis_url=redis_url,
        executor=executor,
        abort_poll_interval=abort_poll_interval,
        progress_throttle=progress_throttle,
        max_workers=max_workers,
        heartbeat_interval=heartbeat_interval,
        lease=lease,
        celery_app=celery_app,
    )
    for hook in _configure_hooks:
        hook(settings)
    with _lock:
        _settings = settings
        _generation += 1
    return settings


def current_settings() -> tuple[Settings, int]:
    """The settings in force and their generation (bumped by every ``configure()``)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = build_settings()
        return _settings, _generation


def explicit_settings() -> Settings | None:
    """The settings ``configure()`` set, or None when they come from the environment."""
    with _lock:
        return _settings


def restore(settings: Settings | None) -> None:
    """Put back what :func:`explicit_settings` returned (``resumable.testing`` uses it)."""
    global _settings, _generation
    with _lock:
        _settings = settings
        _generation += 1


def reset() -> None:
    """Forget ``configure()``: the next use reads the environment again."""
    global _settings, _generation
    with _lock:
        _settings = None
        _generation += 1
