"""``resumable db migrate``: create or upgrade resumable's SQL tables."""

from __future__ import annotations

import click

from resumable._db.engine import open_database
from resumable.cli._urls import persistent
from resumable.migrations import SCHEMA_VERSION, migrate
from resumable.store import default_store_url


@click.group()
def db() -> None:
    """Manage resumable's SQL schema."""


@db.command("migrate")
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Database URL (default: $RESUMABLE_STORE_URL, else the embedded SQLite file).",
)
def migrate_(url: str | None) -> None:
    """Bring the database's resumable tables to the current schema version."""
    database = open_database(persistent(url or default_store_url(), "--url"))
    try:
        applied = migrate(database)
    finally:
        database.dispose()
    if applied:
        click.echo(
            f"{database.url}: applied {', '.join(map(str, applied))}; now at {SCHEMA_VERSION}"
        )
    else:
        click.echo(f"{database.url}: already at schema version {SCHEMA_VERSION}")
