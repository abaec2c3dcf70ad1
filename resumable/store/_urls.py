"""Checks of store and database URLs that need no connection (and so create nothing)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from resumable._errors import StoreUnavailableError

REDIS_SCHEMES = ("redis", "rediss", "unix")


def scheme_of(url: str) -> str:
    """The URL's scheme without a driver suffix: ``postgresql+psycopg://`` -> ``postgresql``."""
    return urlsplit(url).scheme.lower().split("+", 1)[0]


def redis_db(url: str, masked: str) -> int:
    """The database number of a Redis URL (0 when it names none).

    redis-py silently uses database 0 when the path is not a number
    (``redis://host:6379/abc``); two applications meaning different databases would
    then share one. We refuse instead.

    Raises:
        StoreUnavailableError: not a ``redis://``, ``rediss://`` or ``unix://`` URL, or
            a database that is not a non-negative integer.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in REDIS_SCHEMES:
        raise StoreUnavailableError(
            f"{masked!r} is not a Redis URL: use redis://host:port/db (or rediss://, unix://)",
            masked,
        )
    from_query = parse_qs(parts.query).get("db")
    if from_query:
        text = from_query[0]
    elif parts.scheme.lower() == "unix":
        text = "0"
    else:
        text = unquote(parts.path).strip("/") or "0"
    if not text.isdecimal() or not text.isascii():
        raise StoreUnavailableError(
            f"{masked}: the Redis database must be a number (redis://host:port/0), got {text!r}",
            masked,
        )
    return int(text)


def in_memory_reason(url: str) -> str | None:
    """Why nothing at ``url`` outlives the process (``memory://``, in-memory SQLite), or None."""
    scheme = scheme_of(url)
    if scheme == "memory":
        return "memory:// lives in this process only"
    if scheme != "sqlite":
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # opening it reports the bad URL
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        return "an in-memory SQLite database lives in this process only"
    return None
