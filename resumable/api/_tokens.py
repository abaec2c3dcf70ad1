"""Bearer tokens of the REST API: made once, stored as a hash, revoked per user.

A token is 32 random bytes (URL-safe base64) behind the prefix ``rsm_``; the table
keeps only its SHA-256. Tokens have that much entropy, so a fast hash is enough: a
slow password hash would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select

from resumable._db.engine import Database, open_database, translate_errors
from resumable._db.types import utcnow
from resumable._errors import ConfigurationError
from resumable.migrations import migrate
from resumable.migrations.schema import api_tokens
from resumable.tasks._models import MAX_NAME_LENGTH

TOKEN_PREFIX = "rsm_"
_MAX_TOKEN_LENGTH = 200  # anything longer is not one of ours: no hashing, no query
_c = api_tokens.c


@dataclass(frozen=True)
class ApiUser:
    """The user a request acts as: its token's owner.

    Attributes:
        user_id: Who the token belongs to.
        admin: Whether the token grants admin rights.
    """

    user_id: str
    admin: bool = False


def hash_token(token: str) -> str:
    """The stored form of ``token``: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token_for(token: str) -> str:
    """The CSRF token of a cookie session: an HMAC of the constant with the session's
    own bearer token as key, so the server needs no state and no secret of its own, and
    a page on another site cannot compute it."""
    return hmac.new(token.encode("utf-8", "surrogatepass"), b"resumable-csrf", "sha256").hexdigest()


def _check_user(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"user must be a non-empty name of at most {MAX_NAME_LENGTH} characters, "
            f"got {user_id!r}"
        )
    return user_id


class TokenStore:
    """The token table of one database (the task database)."""

    def __init__(self, database_url: str) -> None:
        self._db: Database = open_database(database_url)
        self.url = self._db.url
        migrate(self._db)
        self._lookup = select(_c.user_id, _c.admin).where(_c.token_hash == bindparam("h"))

    def close(self) -> None:
        """Release pooled connections."""
        self._db.dispose()

    def create(self, user_id: str, *, admin: bool = False) -> str:
        """Make a new token for ``user_id``; return it (it is never shown again).

        Raises:
            ConfigurationError: ``user_id`` is not a non-empty name of at most 255
                characters.
        """
        user = _check_user(user_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "token_hash": hash_token(token),
            "user_id": user,
            "admin": bool(admin),
            "created_at": utcnow(),
        }
        with translate_errors(self.url), self._db.tx.begin() as conn:
            conn.execute(insert(api_tokens).values(**row))
        return token

    def revoke(self, user_id: str) -> int:
        """Delete every token of ``user_id``; return how many there were."""
        user = _check_user(user_id)
        with translate_errors(self.url), self._db.tx.begin() as conn:
            return int(conn.execute(delete(api_tokens).where(_c.user_id == user)).rowcount or 0)

    def authenticate(self, token: str) -> ApiUser | None:
        """The user ``token`` belongs to, or None for an unknown or revoked token."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
            return None
        with translate_errors(self.url), self._db.auto.connect() as conn:
            row = conn.execute(self._lookup, {"h": hash_token(token)}).first()
        return None if row is None else ApiUser(str(row[0]), bool(row[1]))
