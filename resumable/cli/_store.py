"""``resumable store …``: read and write checkpoint state from the shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from rich.console import Console
from rich.table import Table

from resumable._errors import ConfigurationError
from resumable._time import parse_duration
from resumable.cli._params import DURATION_HELP
from resumable.store import NEVER_EXPIRE, Store, open_store
from resumable.store._retention import Retention

_url_option = click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Store URL (default: $RESUMABLE_STORE_URL, else $RESUMABLE_DATABASE_URL, "
    "else the embedded SQLite file).",
)


@contextmanager
def _opened(url: str | None) -> Iterator[Store]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def _parse_retention(text: str | None) -> Retention:
    if text is None:
        return None
    if text.strip().lower() == "never":
        return NEVER_EXPIRE
    try:
        seconds = parse_duration(text)
    except ConfigurationError as exc:
        raise click.BadParameter(f"{exc}, or 'never'", param_hint="'--retention'") from None
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise click.BadParameter(
            f"retention {text} s is too long; use 'never' to keep the key"
        ) from None


@click.group()
def store() -> None:
    """Read and write checkpoint state (NAMESPACE SCOPE_KEY [KEY [VALUE_JSON]])."""


@store.command()
@_url_option
@click.argument("namespace")
@click.argument("scope_key")
@click.argument("key")
def get(url: str | None, namespace: str, scope_key: str, key: str) -> None:
    """Print the JSON value of KEY (exit 1 when missing)."""
    with _opened(url) as opened:
        missing = object()
        value = opened.scope(namespace, scope_key).get(key, missing)
    if value is missing:
        raise click.ClickException(f"key {key!r} not found in scope ({namespace!r}, {scope_key!r})")
    click.echo(json.dumps(value, ensure_ascii=False))


@store.command("set")
@_url_option
@click.option(
    "--retention",
    default=None,
    metavar="DURATION|never",
    help=f"Expire after this long (12h, 7d, P7D, seconds…) or never. {DURATION_HELP}",
)
@click.argument("namespace")
@click.argument("scope_key")
@click.argument("key")
@click.argument("value_json")
def set_(
    url: str | None,
    retention: str | None,
    namespace: str,
    scope_key: str,
    key: str,
    value_json: str,
) -> None:
    """Store VALUE_JSON (a JSON document) under KEY."""
    try:
        value = json.loads(value_json)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"VALUE_JSON is not valid JSON: {exc}") from None
    keep = _parse_retention(retention)
    with _opened(url) as opened:
        opened.scope(namespace, scope_key).set(key, value, retention=keep)


@store.command()
@_url_option
@click.option("--all", "everything", is_flag=True, help="Delete every key of the scope.")
@click.argument("namespace")
@click.argument("scope_key")
@click.argument("key", required=False)
def delete(
    url: str | None, everything: bool, namespace: str, scope_key: str, key: str | None
) -> None:
    """Delete KEY, or with --all every key of the scope."""
    if (key is None) == (not everything):
        raise click.UsageError("give either KEY or --all")
    with _opened(url) as opened:
        scoped = opened.scope(namespace, scope_key)
        if everything:
            scoped.clear()
        else:
            assert key is not None
            scoped.delete(key)


@store.command("list")
@_url_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.argument("namespace")
@click.argument("scope_key")
def list_(url: str | None, as_json: bool, namespace: str, scope_key: str) -> None:
    """List the live keys of a scope with their values."""
    with _opened(url) as opened:
        scoped = opened.scope(namespace, scope_key)
        values = {key: scoped.get(key) for key in scoped.keys()}
    if as_json:
        click.echo(json.dumps(values, ensure_ascii=False, sort_keys=True))
        return
    table = Table(title=f"{namespace} / {scope_key}")
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False))
    Console().print(table)


@store.command()
@_url_option
def purge(url: str | None) -> None:
    """Delete expired keys of every scope now."""
    with _opened(url) as opened:
        removed = opened.purge_expired()
    click.echo(f"purged {removed} expired key{'s' if removed != 1 else ''}")
