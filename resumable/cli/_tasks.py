"""``resumable tasks …``: list, inspect, cancel, prune and watch tasks from the shell.

Commands act as the system (they see and may cancel every task) unless ``--user`` is
given, like a trusted backend process; ``--admin`` gives that user admin rights.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import resumable
from resumable import Task, TaskStatus
from resumable._time import duration_in_words, relative
from resumable.cli._params import DURATION_HELP, DURATION_OR_ZERO
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
def _session(database_url: str | None, user: str | None, admin: bool) -> Iterator[None]:
    if admin and user is None:
        raise click.UsageError("--admin needs --user (the system already sees everything)")
    # The command line never runs tasks: the worker executor keeps this process idle.
    resumable.configure(database_url=database_url, executor="worker")
    with ExitStack() as stack:
        if user is not None:
            stack.enter_context(resumable.acting_as(user, admin=admin))
        yield


SHORT_UUID = 8


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
    table = Table(title=f"{len(found)} task(s)")
    for column in ("uuid", "name", "status", "progress", "eta", "scope", "subscribers"):
        table.add_column(column, no_wrap=column in ("uuid", "status"))
    table.add_column("attempt", justify="right")
    table.add_column("created")
    table.add_column("duration", justify="right")
    table.add_column("worker")
    for t in found:
        table.add_row(
            t.uuid if full_uuid else t.uuid[:SHORT_UUID],
            t.task_name or t.name,
            _status(t, t.uuid in stranded),
            format_percent(t),
            duration_in_words(t.progress.eta_seconds),
            t.scope.value,
            _subscribers(t),
            str(t.attempt),
            relative(t.created_at),
            duration_in_words(t.duration_seconds),
            worker_host(t.worker_id),
        )
    Console().print(table)


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
@click.argument("task_uuid")
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
    table.add_column("field", style="bold")
    table.add_column("value")
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
@click.argument("task_uuid")
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
@click.option(
    "--older-than",
    type=DURATION_OR_ZERO,
    default=None,
    help=f"Delete tasks that ended longer ago than this (default 90d). {DURATION_HELP}",
)
@click.option(
    "--retention-days",
    default=None,
    type=click.FloatRange(min=0),
    help="The same in days (older spelling of --older-than).",
)
@click.option("--max-rows", default=10_000, show_default=True, type=click.IntRange(min=1))
def prune(
    database_url: str | None,
    user: str | None,
    admin: bool,
    older_than: float | None,
    retention_days: float | None,
    max_rows: int,
) -> None:
    """Delete finished tasks that ended more than --older-than ago, and expired
    checkpoint state (``ctx.store`` keys past their retention); prints both counts.

    The one-off form of ``resumable worker --prune-every``.
    """
    if older_than is not None and retention_days is not None:
        raise click.UsageError("give --older-than or --retention-days, not both")
    days = retention_days if older_than is None else older_than / 86_400
    with _session(database_url, user, admin):
        pruned = resumable.prune_tasks(
            retention_period_days=90.0 if days is None else days, max_rows_per_run=max_rows
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
@click.argument("task_uuid")
def watch(
    database_url: str | None, user: str | None, admin: bool, interval: float, task_uuid: str
) -> None:
    """Show a live progress bar with ETA until the task ends.

    Exits 0 when the task succeeds, 1 when it ends in any other status.
    """
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
                time.sleep(interval)
                t.refresh()
    if t.status is not TaskStatus.SUCCESS:
        detail = f": {t.error_message}" if t.error_message else ""
        raise click.ClickException(f"task {t.uuid} ended with status {t.status.value}{detail}")
    click.echo(f"task {t.uuid} succeeded")
