"""``resumable tasks …``: list, inspect, cancel, prune and watch tasks from the shell.

Commands act as the system (they see and may cancel every task) unless ``--user`` is
given, like a trusted backend process; ``--admin`` gives that user admin rights.

Commands that name a task (``list``, ``show``, ``watch``, ``state``, ``cancel``) need a
database that already holds resumable's tables: at a mistyped URL they fail instead of
creating an empty one. ``prune`` creates what it needs.
"""

from __future__ import annotations

import json
import re
import time
import uuid as uuid_module
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import resumable
from resumable import Task, TaskStatus
from resumable._time import duration_in_words, relative
from resumable.cli._params import DURATION, DURATION_HELP, WatchTimedOut
from resumable.cli._prune import PruneLimits, prune_options
from resumable.cli._tables import ESSENTIAL, Column, fitted_table
from resumable.cli._urls import persistent, redis_url, require_initialised
from resumable.tasks._identity import state_scope
from resumable.tasks._workers import unrunnable

_STATUS_STYLE = {
    "pending": "yellow",
    "in_progress": "cyan",
    "aborting": "magenta",
    "success": "green",
    "failure": "red",
    "aborted": "bright_black",
    "timed_out": "red",
}

_database_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Task database (default: $RESUMABLE_DATABASE_URL, else the embedded SQLite file).",
)
_user_option = click.option(
    "--user", default=None, metavar="USER_ID", help="Act as this user (default: the system)."
)
_admin_option = click.option("--admin", is_flag=True, help="The --user is an admin.")


@contextmanager
def _session(
    database_url: str | None, user: str | None, admin: bool, *, must_exist: bool = True
) -> Iterator[None]:
    _check_user(user, admin)
    with _configured(database_url, must_exist=must_exist), _acting(user, admin):
        yield


@contextmanager
def _configured(database_url: str | None, *, must_exist: bool) -> Iterator[None]:
    # The command line never runs tasks: the worker executor keeps this process idle.
    settings = resumable.configure(database_url=database_url, executor="worker")
    persistent(settings.database_url, "--database-url")
    redis_url(settings.redis_url, "$RESUMABLE_REDIS_URL")
    if must_exist:
        require_initialised(settings.database_url)
    yield


def _check_user(user: str | None, admin: bool) -> None:
    if admin and user is None:
        raise click.UsageError("--admin needs --user (the system already sees everything)")


@contextmanager
def _acting(user: str | None, admin: bool) -> Iterator[None]:
    _check_user(user, admin)
    with ExitStack() as stack:
        if user is not None:
            stack.enter_context(resumable.acting_as(user, admin=admin))
        yield


_UUID_PREFIX = re.compile(r"[0-9a-f-]*")


class TaskUuid(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """A task uuid or the start of one (``show``, ``cancel``… accept any unique prefix)."""

    name = "task_uuid"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if len(text) >= 36:
            try:
                return str(uuid_module.UUID(text))
            except ValueError:
                self.fail(f"{value!r} is not a task uuid", param, ctx)
        if not _UUID_PREFIX.fullmatch(text):
            self.fail(
                f"{value!r} is not a task uuid or the start of one (hex digits and dashes)",
                param,
                ctx,
            )
        return text


SHORT_UUID = 8
WATCH_TIMED_OUT = WatchTimedOut.exit_code


def resolve_uuid(given: str) -> str:
    """The uuid of the one task the current user may see that ``given`` starts with.

    Raises:
        TaskNotFoundError: no visible task matches.
        click.UsageError: several visible tasks match (give more characters).
    """
    if len(given) >= 36:
        return given
    from resumable.tasks import _services

    visible = []
    for candidate in _services.current().repository.uuids_starting_with(given):
        try:
            visible.append(resumable.get_task(candidate).uuid)
        except resumable.TaskNotFoundError:
            continue
    if not visible:
        raise resumable.TaskNotFoundError(given)
    if len(visible) > 1:
        raise click.UsageError(f"{given!r} matches several tasks; give more characters")
    return visible[0]


def format_percent(t: Task) -> str:
    """Progress as shown in tables: ``42%``, ``17 done``, or ``-``."""
    if t.progress.fraction is not None:
        text = f"{t.progress.fraction * 100:.0f}%"
        if t.progress.current is not None and t.progress.total is not None:
            text += f" ({t.progress.current:g}/{t.progress.total:g})"
        return text
    if t.progress.current is not None:
        return f"{t.progress.current:g} done"
    return "-"


def _status(t: Task, no_worker: bool = False) -> str:
    style = _STATUS_STYLE.get(t.status.value, "")
    text = f"[{style}]{t.status.value}[/{style}]" if style else t.status.value
    if no_worker:  # pending, and no live worker registered its name and queue
        text += " [red](no worker)[/red]"
    if t.timeout_unenforceable:
        text += " [yellow](timeout not enforced)[/yellow]"
    return text


def _subscribers(t: Task) -> str:
    return ", ".join(t.subscribers) if t.subscribers else "-"


@click.group()
def tasks() -> None:
    """List, inspect, cancel, prune and watch tasks."""


@tasks.command("list")
@_database_option
@_user_option
@_admin_option
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in TaskStatus]),
    help="Only tasks in this status (repeatable).",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option(
    "--full-uuid", is_flag=True, help="Show whole uuids (default: the first 8 characters)."
)
def list_(
    database_url: str | None,
    user: str | None,
    admin: bool,
    statuses: tuple[str, ...],
    limit: int,
    as_json: bool,
    full_uuid: bool,
) -> None:
    """List tasks, newest first.

    Uuids are shortened to 8 characters; ``show``, ``cancel`` and ``watch`` accept any
    unique prefix.
    """
    with _session(database_url, user, admin):
        found = resumable.list_tasks(status=list(statuses) or None, limit=limit)
        stranded = unrunnable(found)
    if as_json:
        for t in found:
            click.echo(
                json.dumps({**_as_dict(t), "no_worker": stranded.get(t.uuid)}, sort_keys=True)
            )
        return
    rows = [
        [
            t.uuid if full_uuid else t.uuid[:SHORT_UUID],
            t.task_name or t.name,
            _status(t, t.uuid in stranded),
            format_percent(t),
            relative(t.created_at),
            duration_in_words(t.progress.eta_seconds),
            duration_in_words(t.duration_seconds),
            str(t.attempt),
            t.scope.value,
            _subscribers(t),
            worker_host(t.worker_id),
        ]
        for t in found
    ]
    console = Console()
    console.print(
        fitted_table(_LIST_COLUMNS, rows, width=console.width, title=f"{len(found)} task(s)")
    )


# In the order shown; at 80 columns the lowest priorities (highest numbers) give way.
_LIST_COLUMNS = [
    Column("uuid", ESSENTIAL),
    Column("name", ESSENTIAL, wrap=True),
    Column("status", ESSENTIAL, wrap=True),
    Column("progress", 1),
    Column("created", 2),
    Column("eta", 4, justify="right"),
    Column("duration", 3, justify="right"),
    Column("attempt", 5, justify="right"),
    Column("scope", 7),
    Column("subscribers", 6, wrap=True),
    Column("worker", 8),
]


def _moment(moment: datetime | None) -> str:
    """``3 minutes ago (2026-12-02T09:30:00+00:00)``, or ``-``."""
    return "-" if moment is None else f"{relative(moment)} ({moment.isoformat()})"


def _as_dict(t: Task) -> dict[str, object]:
    return {
        "uuid": t.uuid,
        "name": t.name,
        "task_key": t.task_key,
        "task_name": t.task_name,
        "scope": t.scope.value,
        "status": t.status.value,
        "attempt": t.attempt,
        "progress": {
            "current": t.progress.current,
            "total": t.progress.total,
            "fraction": t.progress.fraction,
            "eta_seconds": t.progress.eta_seconds,
        },
        "payload": t.payload,
        "result": t.result,
        "error_message": t.error_message,
        "exception_type": t.exception_type,
        "subscribers": t.subscribers,
        "created_at": t.created_at.isoformat(),
        "started_at": t.started_at.isoformat() if t.started_at else None,
        "ended_at": t.ended_at.isoformat() if t.ended_at else None,
        "timeout_unenforceable": t.timeout_unenforceable,
        "worker_id": t.worker_id,
        "celery_task_id": t.celery_task_id,
    }


def worker_host(worker_id: str | None) -> str:
    """The host part of a ``worker_id`` (``node@host`` for Celery), or ``-``."""
    return "-" if not worker_id else worker_id.split(":", 1)[0]


@tasks.command()
@_database_option
@_user_option
@_admin_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.argument("task_uuid", type=TaskUuid())
def show(
    database_url: str | None, user: str | None, admin: bool, as_json: bool, task_uuid: str
) -> None:
    """Show every field of one task."""
    with _session(database_url, user, admin):
        t = resumable.get_task(resolve_uuid(task_uuid))
        stranded = unrunnable([t]).get(t.uuid)
    if as_json:
        shown = {**_as_dict(t), "stack_trace": t.stack_trace, "no_worker": stranded}
        click.echo(json.dumps(shown, sort_keys=True))
        return
    table = Table(show_header=False, title=f"task {t.uuid}")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [
        ("name", t.name),
        ("task_name", t.task_name or "-"),
        ("task_key", t.task_key or "-"),
        ("scope", t.scope.value),
        ("status", _status(t, stranded is not None)),
        ("attempt", str(t.attempt)),
        ("progress", format_percent(t)),
        ("eta", duration_in_words(t.progress.eta_seconds)),
        ("subscribers", _subscribers(t)),
        ("created_by", t.created_by or "(system)"),
        ("created_at", _moment(t.created_at)),
        ("started_at", _moment(t.started_at)),
        ("ended_at", _moment(t.ended_at)),
        ("duration", duration_in_words(t.duration_seconds)),
        ("timeout", "-" if t.timeout is None else f"{t.timeout:g} s"),
        ("payload", "-" if t.payload is None else json.dumps(t.payload, sort_keys=True)),
        ("result", "-" if t.result is None else json.dumps(t.result, sort_keys=True)),
        ("error", t.error_message or "-"),
        ("exception_type", t.exception_type or "-"),
        ("worker", t.worker_id or stranded or "-"),
        ("celery_task_id", t.celery_task_id or "-"),
    ]
    for field, value in rows:
        table.add_row(field, value)
    console = Console()
    console.print(table)
    if t.stack_trace:
        console.print(t.stack_trace, markup=False, highlight=False)


@tasks.command()
@_database_option
@_user_option
@_admin_option
@click.option("--force", is_flag=True, help="Abort a shared task for every subscriber (admin).")
@click.argument("task_uuid", type=TaskUuid())
def cancel(
    database_url: str | None, user: str | None, admin: bool, force: bool, task_uuid: str
) -> None:
    """Abort a task, or unsubscribe --user from a shared one; prints which."""
    with _session(database_url, user, admin):
        click.echo(resumable.get_task(resolve_uuid(task_uuid)).cancel(force=force))


@tasks.command()
@_database_option
@_user_option
@_admin_option
@click.option("--clear", is_flag=True, help="Delete every key of the task's ctx.store.")
@click.option("--force", is_flag=True, help="With --clear: clear even while the task is active.")
@click.argument("task_uuid", type=TaskUuid())
def state(
    database_url: str | None,
    user: str | None,
    admin: bool,
    clear: bool,
    force: bool,
    task_uuid: str,
) -> None:
    """Print the task's checkpoint state (its ctx.store) as JSON, or --clear it.

    The state belongs to the task's identity, not to one run: a task with a task_key
    shares it with every run of the same name and key (a re-run resumes from it); a
    task without one has its own. --clear refuses while a run of that identity is
    pending or running (it would lose checkpoints under it) unless --force is given,
    and needs the system (no --user), an admin or the task's creator.
    """
    if force and not clear:
        raise click.UsageError("--force only goes with --clear")
    _check_user(user, admin)
    with _configured(database_url, must_exist=True):
        with _acting(user, admin):
            t = resumable.get_task(resolve_uuid(task_uuid))
        namespace, scope_key = state_scope(t.name, t.scope, t.task_key, t.created_by, t.uuid)
        from resumable.tasks import _services

        scoped = _services.current().store.scope(namespace, scope_key)
        if not clear:
            values = {key: scoped.get(key) for key in scoped.keys()}
            shown = {"namespace": namespace, "scope_key": scope_key, "state": values}
            click.echo(json.dumps(shown, ensure_ascii=False, sort_keys=True, indent=2))
            return
        if user is not None and not admin and user != t.created_by:
            raise resumable.PermissionDeniedError(
                f"only the task's creator or an admin may clear the state of task {t.uuid}",
                t.uuid,
            )
        active = _active_run(t, namespace, scope_key)
        if active is not None and not force:
            raise click.ClickException(
                f"task {active.uuid} is {active.status.value}: clearing its state now would "
                "lose its checkpoints; wait for it to end, cancel it, or pass --force"
            )
        count = len(scoped.keys())
        scoped.clear()
    click.echo(f"cleared {count} key{'s' if count != 1 else ''} of task {t.uuid}")


def _active_run(t: Task, namespace: str, scope_key: str) -> Task | None:
    """A pending or running task sharing ``t``'s state scope (``t`` itself, or a newer
    run of the same name and key), as the system sees it."""
    if not t.is_terminal:
        return t
    if t.task_key is None:
        return None  # an unkeyed task's state is its own
    active = [TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.ABORTING]
    for other in resumable.list_tasks(status=active, name=t.name, limit=1000):
        if state_scope(other.name, other.scope, other.task_key, other.created_by, other.uuid) == (
            namespace,
            scope_key,
        ):
            return other
    return None


@tasks.command()
@_database_option
@_user_option
@_admin_option
@prune_options(old=("--retention-days", "--max-rows"))
def prune(database_url: str | None, user: str | None, admin: bool, prune: PruneLimits) -> None:
    """Delete finished tasks that ended more than --older-than ago, and expired
    checkpoint state (``ctx.store`` keys past their retention); prints both counts.

    The one-off form of ``resumable worker --prune-every``, with the same options.
    """
    with _session(database_url, user, admin, must_exist=False):
        pruned = resumable.prune_tasks(
            retention_period_days=prune.retention_period_days,
            max_rows_per_run=prune.max_rows_per_run,
        )
        from resumable.tasks import _services

        purged = _services.current().store.purge_expired()
        click.echo(f"tasks pruned: {pruned}, expired state keys purged: {purged}")


def _worker_label(t: Task) -> str:
    parts = []
    if t.worker_id:
        parts.append(f"on {worker_host(t.worker_id)}")
    if t.celery_task_id:
        parts.append(f"celery {t.celery_task_id}")
    return " ".join(parts)


@tasks.command()
@_database_option
@_user_option
@_admin_option
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between two reads.",
)
@click.option(
    "--timeout",
    type=DURATION,
    default=None,
    help=f"Give up after this long, exit {WATCH_TIMED_OUT} (default: watch until the task "
    f"ends). {DURATION_HELP}",
)
@click.argument("task_uuid", type=TaskUuid())
def watch(
    database_url: str | None,
    user: str | None,
    admin: bool,
    interval: float,
    timeout: float | None,
    task_uuid: str,
) -> None:
    """Show a live progress bar with ETA until the task ends.

    Exits 0 when the task succeeds, 1 when it ends in any other status, 124 when
    --timeout runs out first (the task goes on), 130 on Ctrl-C.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with _session(database_url, user, admin):
        t = resumable.get_task(resolve_uuid(task_uuid))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            TextColumn("{task.fields[worker]}"),
        ) as bar:
            row = bar.add_task(t.task_name or t.name, total=None, eta="-", status="", worker="")
            while True:
                fraction = t.progress.fraction
                bar.update(
                    row,
                    total=None if fraction is None else 1.0,
                    completed=fraction or 0.0,
                    eta=duration_in_words(t.progress.eta_seconds),
                    status=t.status.value,
                    worker=_worker_label(t),
                )
                if t.is_terminal:
                    break
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    time.sleep(min(interval, left))
                else:
                    time.sleep(interval)
                t.refresh()
    if not t.is_terminal:
        assert timeout is not None
        raise WatchTimedOut(
            f"gave up watching after {duration_in_words(timeout)}: task {t.uuid} is still "
            f"{t.status.value}"
        )
    if t.status is not TaskStatus.SUCCESS:
        detail = f": {t.error_message}" if t.error_message else ""
        raise click.ClickException(f"task {t.uuid} ended with status {t.status.value}{detail}")
    click.echo(f"task {t.uuid} succeeded")
