"""``resumable worker``: run scheduled tasks in worker processes."""

from __future__ import annotations

import importlib
import logging
import os

import click

from resumable import _config
from resumable.cli._params import DURATION, DURATION_HELP, DURATION_OR_ZERO
from resumable.cli._prune import PruneLimits, prune_options
from resumable.cli._urls import persistent
from resumable.cli._urls import redis_url as checked_redis_url
from resumable.execution.worker._daemon import IMPORTS_ENV, Worker, WorkerOptions
from resumable.tasks._workers import DEFAULT_QUEUE


def _modules(values: tuple[str, ...]) -> tuple[str, ...]:
    listed = list(values) or [os.environ.get(IMPORTS_ENV, "")]
    return tuple(m.strip() for value in listed for m in value.split(",") if m.strip())


def _import_all(modules: tuple[str, ...]) -> None:
    """Import the task modules now, so a typo is one line, not a traceback."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise click.BadParameter(
                f"cannot import {module!r}: {exc}", param_hint="'--import'"
            ) from None
        except SyntaxError as exc:
            raise click.BadParameter(
                f"cannot import {module!r}: {exc.msg} ({exc.filename}, line {exc.lineno})",
                param_hint="'--import'",
            ) from None
        except Exception as exc:  # the module's own code raised: name it, keep it short
            raise click.BadParameter(
                f"importing {module!r} raised {type(exc).__name__}: {exc} "
                f"(python -c 'import {module}' shows the traceback)",
                param_hint="'--import'",
            ) from None


def _queues(values: tuple[str, ...]) -> tuple[str, ...]:
    named = tuple(dict.fromkeys(q.strip() for v in values for q in v.split(",") if q.strip()))
    return named or (DEFAULT_QUEUE,)


@click.command()
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help=f"Module defining @task functions (repeat or comma-separate; default ${IMPORTS_ENV}).",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Claim only tasks on this queue (repeat or comma-separate; default: the default "
    "queue only, named 'default': --queue default --queue exports serves both).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 2,
    show_default=True,
    help="Tasks running at once, one child process each.",
)
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Task database (default: $RESUMABLE_DATABASE_URL, else the embedded file).",
)
@click.option(
    "--redis-url",
    default=None,
    metavar="URL",
    help="Redis for push-delivered aborts (default: $RESUMABLE_REDIS_URL).",
)
@click.option(
    "--poll-interval",
    type=DURATION_OR_ZERO,
    default=0.5,
    show_default=True,
    help="Seconds between looks for due tasks when idle.",
)
@click.option(
    "--grace",
    type=DURATION_OR_ZERO,
    default=30.0,
    show_default=True,
    help="Seconds running tasks get to finish after SIGTERM.",
)
@click.option(
    "--heartbeat-interval",
    type=DURATION,
    default=_config.DEFAULT_HEARTBEAT_INTERVAL,
    show_default=True,
    help="Seconds between heartbeats of a running task.",
)
@click.option(
    "--lease",
    type=DURATION,
    default=_config.DEFAULT_LEASE,
    show_default=True,
    help="Seconds without heartbeat before a task is retried elsewhere.",
)
@click.option(
    "--abort-poll-interval",
    type=DURATION,
    default=_config.DEFAULT_ABORT_POLL_INTERVAL,
    show_default=True,
    help="Seconds between database polls for aborts (the floor under push).",
)
@click.option(
    "--prune-every",
    type=DURATION,
    default=None,
    help=f"Prune old tasks and expired state this often (default: never). {DURATION_HELP}",
)
@prune_options(when="With --prune-every: ", old=("--retention", "--retention-days"))
@click.option(
    "--max-tasks-per-child",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Replace a child process after it ran N attempts (default: never).",
)
@click.option(
    "--max-memory-per-child",
    type=click.IntRange(min=1),
    default=None,
    metavar="KIB",
    help="Replace a child process once its resident memory exceeds KIB after an attempt.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def worker(
    imports: tuple[str, ...],
    queues: tuple[str, ...],
    concurrency: int,
    database_url: str | None,
    redis_url: str | None,
    poll_interval: float,
    grace: float,
    heartbeat_interval: float,
    lease: float,
    abort_poll_interval: float,
    prune_every: float | None,
    prune: PruneLimits,
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
    log_level: str,
) -> None:
    """Run scheduled tasks (executor="worker") until SIGTERM, then drain gracefully.

    Attempts run in a pool of --concurrency long-lived child processes, one attempt
    at a time each. A worker claims only tasks whose names its --import modules
    register, on the queues it serves (--queue); it leaves every other task pending
    for a worker that can run it. Workers need no leader: run as many as you like
    against one database.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = _config.configure(
        database_url=database_url,
        redis_url=checked_redis_url(redis_url, "--redis-url"),
        executor="worker",
        abort_poll_interval=abort_poll_interval,
        heartbeat_interval=heartbeat_interval,
        lease=lease,
    )
    persistent(settings.database_url, "--database-url")
    checked_redis_url(settings.redis_url, "$RESUMABLE_REDIS_URL")
    modules = _modules(imports)
    _import_all(modules)
    options = WorkerOptions(
        concurrency=concurrency,
        imports=modules,
        queues=_queues(queues),
        poll_interval=poll_interval,
        grace=grace,
        prune_every=prune_every,
        retention_period_days=prune.retention_period_days,
        max_rows_per_run=prune.max_rows_per_run,
        max_tasks_per_child=max_tasks_per_child,
        max_memory_per_child=max_memory_per_child,
    )
    running = Worker(options)
    running.install_signal_handlers()
    running.run()
