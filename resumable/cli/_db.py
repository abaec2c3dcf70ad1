"""``resumable db migrate``: create or upgrade resumable's SQL tables."""

from __future__ import annotations

import click

from resumable._config import default_database_url, default_store_url
from resumable._db.engine import mask_url, open_database
from resumable.cli._urls import persistent
from resumable.migrations import SCHEMA_VERSION, migrate

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")


@click.group()
def db() -> None:
    """Manage resumable's SQL schema."""


def _is_sql(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0].lower() in _SQL_SCHEMES


def _targets(url: str | None) -> list[tuple[str, str]]:
    """(what, URL) of each database to migrate: the one given, else what this
    environment uses, each once."""
    if url is not None:
        return [("database", persistent(url, "--url"))]
    tasks = persistent(default_database_url(), "$RESUMABLE_DATABASE_URL")
    store = persistent(default_store_url(), "$RESUMABLE_STORE_URL")
    if store == tasks:
        return [("task database and checkpoint store", tasks)]
    targets = [("task database", tasks)]
    if _is_sql(store):
        targets.append(("checkpoint store", store))
    else:
        click.echo(f"checkpoint store {mask_url(store)}: not a SQL database, nothing to migrate")
    return targets


@db.command("migrate")
@click.option(
    "--url",
    "--database-url",
    "url",
    default=None,
    metavar="URL",
    help="Migrate this database only (default: the databases this environment uses, as below).",
)
def migrate_(url: str | None) -> None:
    """Bring the database's resumable tables to the current schema version.

    Without --url it migrates what every other command would use: the task database
    ($RESUMABLE_DATABASE_URL, else the embedded SQLite file) and the checkpoint store
    ($RESUMABLE_STORE_URL, else the task database), once each. It prints each
    database it migrated, password masked.
    """
    for what, target in _targets(url):
        database = open_database(persistent(target, "--url"))
        try:
            applied = migrate(database)
        finally:
            database.dispose()
        if applied:
            click.echo(
                f"{what} {database.url}: applied {', '.join(map(str, applied))}; "
                f"now at {SCHEMA_VERSION}"
            )
        else:
            click.echo(f"{what} {database.url}: already at schema version {SCHEMA_VERSION}")
