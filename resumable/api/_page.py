"""The task page at ``/``, and the login form that gives a browser its session cookie.

The page is one static HTML file with its script and styles inlined (no build step);
the script reads ``/api/v1/task/`` and polls it while tasks run. Tokens never appear in
URLs: the login form POSTs the token, and the answer sets it as an HttpOnly,
SameSite=Strict cookie. Cookie-authenticated writes need the CSRF token this page
embeds (see ``_auth``).
"""

from __future__ import annotations

import html
import json
import re
import secrets
from functools import cache
from importlib.resources import files
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resumable.api._auth import (
    SESSION_COOKIE,
    Session,
    TokenStores,
    check_same_origin,
    find_session,
)

router = APIRouter(include_in_schema=False)

_PLACEHOLDER = re.compile(r"\{(nonce|css|js|user|role|config|error)\}")
_MAX_FORM_BYTES = 4096
_SESSION_SECONDS = 12 * 3600


@cache
def _asset(name: str) -> str:
    return (files("resumable.api") / "page" / name).read_text(encoding="utf-8")


def _render(template: str, **values: str) -> str:
    # One pass, so a value (the CSS, the script) is never scanned for placeholders.
    return _PLACEHOLDER.sub(lambda found: values.get(found.group(1), ""), _asset(template))


def _headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _login_page(error: str = "", status: int = 401) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    page = _render("login.html", nonce=nonce, css=_asset("page.css"), error=html.escape(error))
    return HTMLResponse(page, status_code=status, headers=_headers(nonce))


def _task_page(current: Session) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    config = {
        "user": current.user.user_id,
        "admin": current.user.admin,
        "csrf": current.csrf_token,
    }
    # JSON inside <script>: "<" escaped so no value can close the element.
    embedded = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e")
    page = _render(
        "page.html",
        nonce=nonce,
        css=_asset("page.css"),
        js=_asset("page.js"),
        user=html.escape(current.user.user_id),
        role=" (admin)" if current.user.admin else "",
        config=embedded,
    )
    return HTMLResponse(page, headers=_headers(nonce))


@router.get("/", response_class=HTMLResponse)
def page(request: Request) -> HTMLResponse:
    """The task page; the login form (401) without a valid token."""
    try:
        current = find_session(request)
    except HTTPException as exc:
        if exc.status_code != 401:
            raise
        tried = "authorization" in request.headers or SESSION_COOKIE in request.cookies
        return _login_page("That token is unknown or was revoked." if tried else "")
    return _task_page(current)


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the posted token; on success set the session cookie and go to the page."""
    check_same_origin(request)
    raw = await request.body()
    if len(raw) > _MAX_FORM_BYTES:
        return _login_page("That is not a token.", status=422)
    form = parse_qs(raw.decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    stores: TokenStores = request.app.state.tokens
    user = await run_in_threadpool(stores.current().authenticate, token) if token else None
    if user is None:
        return _login_page("That token is unknown or was revoked.")
    answer = RedirectResponse("/", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=_SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@router.post("/logout", response_model=None)
def logout(request: Request) -> Response:
    """Forget the session cookie."""
    check_same_origin(request)
    answer = RedirectResponse("/", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return answer
