"""``resumable store …``: read and write checkpoint state from the shell.

``get`` and ``list`` only look: at a URL with no database (a typo) they fail instead
of creating one. ``set``, ``delete`` and ``purge`` create what they need.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from rich.console import Console
from rich.table import Table

from resumable._errors import ConfigurationError
from resumable._time import parse_duration
from resumable.cli._params import DURATION_HELP
from resumable.cli._urls import persistent, require_initialised
from resumable.store import NEVER_EXPIRE, Store, default_store_url, open_store
from resumable.store._retention import Retention
from resumable.store._values import DEFAULT_MAX_VALUE_BYTES, MAX_DEPTH, encode_value, validate_key

_url_option = click.option(
    "--url",
    default=None,
    metavar="URL",
    help="Store URL (default: $RESUMABLE_STORE_URL, else $RESUMABLE_DATABASE_URL, "
    "else the embedded SQLite file).",
)


@contextmanager
def _opened(url: str | None, *, read_only: bool = False) -> Iterator[Store]:
    resolved = persistent(url or default_store_url(), "--url")
    if read_only:
        require_initialised(resolved)
    store = open_store(resolved)
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
    with _opened(url, read_only=True) as opened:
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
    """Store VALUE_JSON (a JSON document) under KEY.

    VALUE_JSON ``-`` reads the document from standard input, ``@PATH`` from a file
    (neither is valid JSON by itself, so no value is mistaken for one).
    """
    value = _parse_value(_read_value(value_json), key)
    keep = _parse_retention(retention)
    # Checked before the store is opened: a bad value creates and writes nothing.
    validate_key(namespace, "namespace")
    validate_key(scope_key, "scope key")
    validate_key(key)
    encode_value(value, key, DEFAULT_MAX_VALUE_BYTES)
    with _opened(url) as opened:
        opened.scope(namespace, scope_key).set(key, value, retention=keep)


def _read_value(value_json: str) -> str:
    if value_json == "-":
        return sys.stdin.read()
    if value_json.startswith("@"):
        path = value_json[1:]
        try:
            with open(path, encoding="utf-8") as file:
                return file.read()
        except OSError as exc:
            raise click.ClickException(
                f"cannot read VALUE_JSON from {path!r}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{path!r} is not UTF-8 text: {exc.reason}") from None
    return value_json


def _parse_value(text: str, key: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"VALUE_JSON is not valid JSON: {exc}") from None
    except RecursionError:
        # Deeper than Python's parser goes, so far deeper than the store accepts: the
        # store's own message, as for a value just over its limit.
        raise click.ClickException(
            f"value for key {key!r} is nested more than {MAX_DEPTH} levels deep; "
            f"the limit is {MAX_DEPTH}"
        ) from None


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
    with _opened(url, read_only=True) as opened:
        scoped = opened.scope(namespace, scope_key)
        values = {key: scoped.get(key) for key in scoped.keys()}
    if as_json:
        click.echo(json.dumps(values, ensure_ascii=False, sort_keys=True))
        return
    table = Table(title=f"{namespace} / {scope_key}")
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
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
