"""``resumable api``: serve the REST API and the task page; manage its bearer tokens."""

from __future__ import annotations

import click

import resumable
from resumable.api._tokens import TokenStore
from resumable.cli._urls import persistent, redis_url

_database_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Task database (default: $RESUMABLE_DATABASE_URL, else the embedded SQLite file).",
)


def _configure(database_url: str | None) -> str:
    # The API never runs tasks: the worker executor keeps this process idle.
    settings = resumable.configure(database_url=database_url, executor="worker")
    redis_url(settings.redis_url, "$RESUMABLE_REDIS_URL")
    return persistent(settings.database_url, "--database-url")


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@_database_option
@click.pass_context
def api(ctx: click.Context, host: str, port: int, database_url: str | None) -> None:
    """Serve the REST API and the task page (needs: pip install 'resumable-sdk[api]').

    Every request needs a bearer token from `resumable api token create USER`, except
    /health. Open http://HOST:PORT/ and log in with a token to watch and cancel tasks.
    """
    if ctx.invoked_subcommand is not None:
        return
    from resumable.api import create_app

    _configure(database_url)
    from resumable.tasks import _services

    _services.current()  # an unreachable database is one line now, not an error per request
    app = create_app()
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise click.ClickException("uvicorn is missing: pip install 'resumable-sdk[api]'") from exc
    click.echo(f"resumable api: serving http://{host}:{port}/ (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level="info")


@api.group()
def token() -> None:
    """Create and revoke bearer tokens."""


def _tokens(database_url: str | None) -> TokenStore:
    return TokenStore(_configure(database_url))


@token.command("create")
@click.argument("user")
@click.option("--admin", is_flag=True, help="The token grants admin rights.")
@_database_option
def create(user: str, admin: bool, database_url: str | None) -> None:
    """Make a bearer token for USER and print it (only once: just its hash is stored)."""
    store = _tokens(database_url)
    try:
        made = store.create(user, admin=admin)
    finally:
        store.close()
    click.echo(made)
    role = "admin" if admin else "user"
    click.echo(
        f"token for {role} {user!r} created; it is shown only this once, keep it secret",
        err=True,
    )


@token.command("revoke")
@click.argument("user")
@_database_option
def revoke(user: str, database_url: str | None) -> None:
    """Revoke every token of USER."""
    store = _tokens(database_url)
    try:
        count = store.revoke(user)
    finally:
        store.close()
    if count == 0:
        raise click.ClickException(f"user {user!r} has no token")
    click.echo(f"revoked {count} token(s) of {user!r}")
