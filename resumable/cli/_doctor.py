"""``resumable doctor``: check the checkpoint store, the task database and the settings."""

from __future__ import annotations

import click

from resumable.cli._checks import FAIL, OK, WARN, Check, settings_checks, sql_checks, store_checks

_MARK = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}


@click.command()
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Checkpoint store URL (default: $RESUMABLE_STORE_URL, else $RESUMABLE_DATABASE_URL, "
    "else the embedded SQLite file).",
)
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Task database URL (default: configure()'s, from $RESUMABLE_DATABASE_URL).",
)
@click.option(
    "--require-durable",
    is_flag=True,
    help="A store that a server restart would empty is a failure, not a warning.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def doctor(url: str | None, database_url: str | None, require_durable: bool, strict: bool) -> None:
    """Check the store, the task database and the settings; exit 1 when one fails.

    Reports, for each: whether it answers, the schema version, the clock skew between
    the database and this host, SQLite on a network (or memory) filesystem, what a Redis
    restart would lose, and the lease and heartbeat settings.
    """
    from resumable._config import current_settings
    from resumable.store import default_store_url

    settings, _ = current_settings()
    lease = settings.lease
    store_url = url or default_store_url()
    task_url = database_url or settings.database_url
    checks: list[Check] = store_checks(store_url, lease, require_durable=require_durable)
    if task_url != store_url:
        checks += sql_checks("task database", task_url, lease)
    else:
        checks.append(Check("task database", "same as store", OK, "checked above"))
    checks += settings_checks(settings)
    width = max(len(f"{c.subject} {c.name}") for c in checks)
    for check in checks:
        label = f"{check.subject} {check.name}".ljust(width)
        click.echo(f"{_MARK[check.status]}  {label}  {check.detail}")
    failures = sum(c.status == FAIL for c in checks)
    warnings = sum(c.status == WARN for c in checks)
    click.echo(f"{len(checks)} checks: {failures} failed, {warnings} warnings")
    if failures or (strict and warnings):
        raise SystemExit(1)
