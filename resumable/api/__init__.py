"""The REST API and the task page (``pip install 'resumable-sdk[api]'``).

``resumable api`` serves them with uvicorn; :func:`create_app` returns the ASGI app to
mount in an application of your own. Tokens come from ``resumable api token create``;
every request acts as its token's user (see docs/api.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resumable._errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI

INSTALL_HINT = "the REST API needs its extra: pip install 'resumable-sdk[api]'"


def create_app() -> FastAPI:
    """The ASGI app serving the REST API, its OpenAPI schema and the task page.

    Tasks are read from the task database in force (``resumable.configure()`` or
    ``RESUMABLE_DATABASE_URL``), looked up per request, and so are the tokens.

    Returns:
        A ``fastapi.FastAPI`` application.

    Raises:
        ConfigurationError: FastAPI is not installed.
    """
    try:
        from resumable.api._app import create_app as build
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("fastapi", "starlette", "pydantic"):
            raise
        raise ConfigurationError(f"{INSTALL_HINT} ({exc})") from exc
    return build()


def create_token(user_id: str, *, admin: bool = False) -> str:
    """Make a bearer token for ``user_id`` in the configured task database.

    The token is returned once; only its SHA-256 is stored. The same as
    ``resumable api token create USER [--admin]``. Needs no FastAPI.

    Raises:
        ConfigurationError: ``user_id`` is not a non-empty name of at most 255
            characters.
    """
    from resumable import _config
    from resumable.api._tokens import TokenStore

    store = TokenStore(_config.current_settings()[0].database_url)
    try:
        return store.create(user_id, admin=admin)
    finally:
        store.close()


def revoke_tokens(user_id: str) -> int:
    """Revoke every token of ``user_id``; return how many there were."""
    from resumable import _config
    from resumable.api._tokens import TokenStore

    store = TokenStore(_config.current_settings()[0].database_url)
    try:
        return store.revoke(user_id)
    finally:
        store.close()


__all__ = ["create_app", "create_token", "revoke_tokens"]
