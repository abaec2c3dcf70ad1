"""The task page over HTTP: login form, session cookie, CSRF, security headers.

The browser itself is exercised in test_api_page_browser.py (``nox -s api``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from resumable import acting_as
from tests.api import jobs
from tests.api.conftest import Server, Tokens

pytestmark = pytest.mark.usefixtures("tasks_db")


@contextmanager
def _login(server: Server, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        answer = browser.post("/login", data={"token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        yield browser


def _csrf(page: str) -> str:
    found = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', page)
    assert found, page
    return str(json.loads(found.group(1))["csrf"])


def test_without_a_session_the_page_is_the_login_form(client: httpx.Client, tokens: Tokens) -> None:
    answer = client.get("/")
    assert answer.status_code == 401
    assert 'method="post" action="/login"' in answer.text and 'name="token"' in answer.text
    wrong = client.post("/login", data={"token": "rsm_wrong"})
    assert wrong.status_code == 401 and "unknown or was revoked" in wrong.text
    assert "set-cookie" not in wrong.headers


def test_login_sets_an_httponly_samesite_cookie_and_never_a_url_token(
    server: Server, tokens: Tokens
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        answer = browser.post("/login", data={"token": tokens.alice})
        cookie = answer.headers["set-cookie"].lower()
        assert "resumable_session=" in cookie
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert tokens.alice not in answer.headers["location"]
        page = browser.get("/")
        assert page.status_code == 200 and "alice" in page.text
        assert tokens.alice not in page.text  # the token itself is never echoed
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        # The cookie authenticates API reads as well.
        assert browser.get("/api/v1/task/").status_code == 200
        # Logging out forgets it.
        browser.post("/logout")
        assert browser.get("/api/v1/task/").status_code == 401


def test_the_page_accepts_a_bearer_header_too(client: httpx.Client, tokens: Tokens) -> None:
    page = client.get("/", headers=tokens.headers("admin"))
    assert page.status_code == 200 and "root" in page.text and "(admin)" in page.text


def test_cookie_writes_need_the_csrf_token(server: Server, tokens: Tokens) -> None:
    gate = uuid.uuid4().hex
    with acting_as("alice"):
        t = jobs.abortable.schedule(gate)
    assert jobs.entered[gate].wait(jobs.DEADLINE)
    try:
        with _login(server, tokens.alice) as browser:
            csrf = _csrf(browser.get("/").text)
            path = f"/api/v1/task/{t.uuid}/cancel"
            for headers in ({}, {"X-CSRF-Token": "0" * 64}):
                refused = browser.post(path, json={"force": False}, headers=headers)
                assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
            other_site = browser.post(
                path, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
            )
            assert other_site.status_code == 403
            with acting_as("alice"):
                assert t.refresh().status == "in_progress"  # nothing changed
            done = browser.post(path, json={"force": False}, headers={"X-CSRF-Token": csrf})
            assert done.json() == {"action": "aborted"}
    finally:
        jobs.release[gate].set()


def test_a_cross_site_login_is_refused(client: httpx.Client, tokens: Tokens) -> None:
    answer = client.post(
        "/login", data={"token": tokens.alice}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_one_page_view_costs_a_bounded_number_of_queries(
    client: httpx.Client, tokens: Tokens
) -> None:
    from sqlalchemy import event

    from resumable.tasks import _services

    engine = _services.current().repository.database.auto
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def queries_for_a_listing() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            answer = client.get(
                "/api/v1/task/", params={"limit": 50}, headers=tokens.headers("admin")
            )
            assert answer.status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    with acting_as("alice"):
        jobs.quick(1)
    few = queries_for_a_listing()
    with acting_as("alice"):
        for n in range(1, 61):
            jobs.quick(n)
    many = queries_for_a_listing()
    # The page of tasks, their subscribers in one query, the count, maybe the token.
    assert many == few <= 4
