"""Which store URL resumable uses inside Airflow 2.10 to 3.2.

Order: the ``RESUMABLE_STORE_URL`` environment variable; else the Airflow connection
``resumable_default``; else what ``open_store()`` would use: ``RESUMABLE_DATABASE_URL``,
else the embedded default (a SQLite file under ``RESUMABLE_HOME``), which only works
when every try of a task runs on one machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from resumable._errors import ConfigurationError
from resumable.store import STORE_URL_ENV, default_store_url

CONNECTION_ID = "resumable_default"


class ConnectionLike(Protocol):
    """The fields of an Airflow ``Connection`` that name a store."""

    conn_type: str | None
    host: str | None
    login: str | None
    password: str | None
    port: int | None
    schema: str | None

    @property
    def extra_dejson(self) -> Mapping[str, Any]:
        """The connection's extra field, decoded."""


def url_from_connection(conn: ConnectionLike) -> str:
    """The store URL an Airflow connection describes.

    ``extra`` may hold ``{"url": "..."}``, used as is. Otherwise the connection type
    decides: ``postgres`` (host, port, login, password, schema = database), ``redis``
    (host, port, password, ``extra["db"]`` or schema = database number) or ``sqlite``
    (host = file path).

    Raises:
        ConfigurationError: The connection names no store resumable can open.
    """
    url = conn.extra_dejson.get("url")
    if isinstance(url, str) and url:
        return url
    kind = (conn.conn_type or "").lower().replace("-", "_")
    if kind == "sqlite":
        if not conn.host:
            raise ConfigurationError(
                f"connection {CONNECTION_ID!r}: a sqlite connection needs a host (the file path)"
            )
        return f"sqlite:///{conn.host}"
    if kind in ("postgres", "postgresql"):
        auth = _auth(conn.login, conn.password)
        return f"postgresql://{auth}{_where(conn, 5432)}/{conn.schema or ''}"
    if kind == "redis":
        db = conn.extra_dejson.get("db", conn.schema or 0)
        return f"redis://{_auth(None, conn.password)}{_where(conn, 6379)}/{db}"
    raise ConfigurationError(
        f"connection {CONNECTION_ID!r} has type {conn.conn_type!r}: use postgres, redis or "
        'sqlite, or put the store URL in its extra as {"url": "..."}'
    )


def _auth(login: str | None, password: str | None) -> str:
    if not login and not password:
        return ""
    return f"{quote(login or '', safe='')}:{quote(password or '', safe='')}@"


def _where(conn: ConnectionLike, default_port: int) -> str:
    return f"{conn.host or '127.0.0.1'}:{conn.port or default_port}"


def _lookup_connection(conn_id: str) -> ConnectionLike | None:
    """Airflow's connection ``conn_id`` (from any secrets backend), or None when missing."""
    try:
        from airflow.sdk import BaseHook  # Airflow 3
    except ImportError:
        from airflow.hooks.base import BaseHook  # Airflow 2
    try:
        return BaseHook.get_connection(conn_id)  # type: ignore[no-any-return]
    except Exception as exc:
        # Both versions raise AirflowNotFoundException, from different modules.
        if type(exc).__name__ == "AirflowNotFoundException":
            return None
        raise


def store_url_in_airflow() -> str:
    """The URL of the store to use in an Airflow task without a native store."""
    url = os.environ.get(STORE_URL_ENV)
    if url:
        return url
    conn = _lookup_connection(CONNECTION_ID)
    if conn is not None:
        return url_from_connection(conn)
    return default_store_url()
