"""Who is calling: a bearer token in the header, or the session cookie of the page.

Both carry the same kind of token; the cookie is set by the login form (HttpOnly,
SameSite=Strict) so the page's scripts never see it. Browsers attach cookies to
requests other sites make, so a write authenticated by the cookie must also carry the
session's CSRF token in a header, which only our own page knows.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from resumable.api._per_database import PerDatabase
from resumable.api._tokens import ApiUser, TokenStore, csrf_token_for

SESSION_COOKIE = "resumable_session"
CSRF_HEADER = "X-CSRF-Token"

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A token from `resumable api token create USER`.",
)


class TokenStores(PerDatabase[TokenStore]):
    """One :class:`TokenStore` per task database URL, made on first use."""

    def open(self, url: str) -> TokenStore:
        return TokenStore(url)


@dataclass(frozen=True)
class Session:
    """An authenticated request: the user, the token, and how it came."""

    user: ApiUser
    token: str
    via: Literal["bearer", "cookie"]

    @property
    def csrf_token(self) -> str:
        """The token a cookie-authenticated write must echo in ``X-CSRF-Token``."""
        return csrf_token_for(self.token)


def unauthorized(reason: str) -> HTTPException:
    """A 401 that tells clients to send a bearer token."""
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


def find_session(request: Request) -> Session:
    """The caller's session; raises a 401 without a valid token.

    An ``Authorization`` header wins over the cookie, so tools can act as another user
    than the browser's session.
    """
    stores: TokenStores = request.app.state.tokens
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        token, via = token.strip(), "bearer"
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
    else:
        token, via = request.cookies.get(SESSION_COOKIE, ""), "cookie"
        if not token:
            raise unauthorized("a bearer token is required (resumable api token create USER)")
    user = stores.current().authenticate(token)
    if user is None:
        raise unauthorized("unknown or revoked token")
    return Session(user=user, token=token, via=via)  # type: ignore[arg-type]


def session(
    request: Request,
    # Declared for the OpenAPI schema (and Swagger's "Authorize"); find_session parses.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Session:
    """FastAPI dependency: the authenticated session of a request."""
    return find_session(request)


def check_same_origin(request: Request) -> None:
    """Refuse a browser write that another site started (its Origin names another host)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, "cross-site request refused")


def writing_session(request: Request, current: Annotated[Session, Depends(session)]) -> Session:
    """FastAPI dependency for writes: a cookie session must also send its CSRF token."""
    if current.via == "cookie":
        check_same_origin(request)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), current.csrf_token.encode()):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (CSRF protection)")
    return current
