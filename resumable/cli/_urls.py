"""URL checks shared by the commands: persistence required, nothing created by a look.

Every command exists to act on state that outlives it, so URLs whose data dies with
the process (``memory://``, in-memory SQLite) are refused up front. Read-only commands
(``tasks list/show/watch/state``, ``store get/list``) also refuse a database that does
not exist or has no resumable tables, instead of creating it: a mistyped URL must not
leave an empty database behind and answer "nothing here".
"""

from __future__ import annotations

from pathlib import Path

import click

from resumable._db.engine import mask_url, open_database
from resumable.store._urls import in_memory_reason, redis_db, scheme_of


def persistent(url: str, option: str) -> str:
    """``url``, unless nothing stored there would outlive this command.

    Raises:
        click.BadParameter: ``memory://`` or an in-memory SQLite database.
    """
    reason = in_memory_reason(url)
    if reason is not None:
        shown = mask_url(url) if "@" in url else url  # only a password needs masking
        kinds = "a SQLite file (sqlite:///path.db) or PostgreSQL"
        if option == "--url":
            kinds += " or Redis"
        raise click.BadParameter(
            f"{shown!r}: {reason}, so nothing would outlive this command; use {kinds}",
            param_hint=f"'{option}'",
        )
    return url


def redis_url(url: str | None, option: str) -> str | None:
    """``url`` when it is a usable Redis URL (or None).

    Raises:
        click.BadParameter: not a Redis URL, or a database that is not a number.
    """
    if url is None:
        return None
    from resumable._errors import StoreUnavailableError

    try:
        redis_db(url, mask_url(url))
    except StoreUnavailableError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None
    return url


def _migrate_hint(url: str) -> str:
    return f"run `resumable db migrate --url {mask_url(url)}` to create it"


def require_initialised(url: str) -> None:
    """Fail unless ``url`` holds resumable's tables; create nothing while looking.

    Redis needs no setup (reads create nothing there), so only SQL databases are checked.

    Raises:
        click.ClickException: no such SQLite file, or no resumable tables.
        StoreUnavailableError: the server cannot be reached.
    """
    scheme = scheme_of(url)
    if scheme not in ("sqlite", "postgresql", "postgres"):
        return
    masked = mask_url(url)
    if scheme == "sqlite":
        from sqlalchemy.engine import make_url

        path = Path(make_url(url).database or "").expanduser()
        if not path.is_file():
            raise click.ClickException(
                f"no such database: {path} does not exist (check the URL, or {_migrate_hint(url)})"
            )
    from resumable.migrations import current_version

    database = open_database(url, create=False)
    try:
        version = current_version(database)
    finally:
        database.dispose()
    if version == 0:
        raise click.ClickException(
            f"database {masked} is not initialised: it has no resumable tables "
            f"(check the URL, or {_migrate_hint(url)})"
        )
