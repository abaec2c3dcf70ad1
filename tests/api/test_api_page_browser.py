"""The task page in real headless Chromium (Debian's package, driven by Playwright).

Log in with the form, watch a running task's progress move, cancel it and see it end
ABORTED, see a disabled cancel button with its reason, and save a screenshot. Runs in
``nox -s api`` (RESUMABLE_TEST_BROWSER=1); nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resumable import TaskOptions, acting_as
from tests.api import jobs
from tests.api.conftest import Server, Tokens

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("RESUMABLE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(
    os.environ.get("RESUMABLE_TEST_ARTIFACTS", Path(__file__).parents[2] / "build" / "artifacts")
)
TIMEOUT_MS = 30_000


def _browser_wanted() -> None:
    if os.environ.get("RESUMABLE_TEST_BROWSER") != "1":
        pytest.skip("browser tests run in `nox -s api` (RESUMABLE_TEST_BROWSER=1)")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")


@pytest.fixture
def browser_page(server: Server) -> Iterator[Any]:
    _browser_wanted()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        context = browser.new_context(viewport={"width": 1400, "height": 720})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _row(page: Any, task_uuid: str) -> Any:
    return page.locator(f'tr.task[data-uuid="{task_uuid}"]')


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_watch_cancel_and_see_why_not_in_chromium(
    browser_page: Any, server: Server, tokens: Tokens
) -> None:
    page = browser_page
    counting_gate, stubborn_gate = uuid.uuid4().hex, uuid.uuid4().hex
    with acting_as("alice"):
        done = jobs.quick(3)
        stubborn = jobs.stubborn.schedule(
            stubborn_gate, options=TaskOptions(task_name="Reindex (no abort handler)")
        )
        counting = jobs.counting.schedule(
            counting_gate, 100, options=TaskOptions(task_name="Export 100 rows")
        )
    try:
        assert jobs.entered[counting_gate].wait(jobs.DEADLINE)
        assert jobs.entered[stubborn_gate].wait(jobs.DEADLINE)

        # Without a session the page is the login form; the token goes in a POST body.
        response = page.goto(server.url + "/")
        assert response.status == 401
        page.fill("#token", tokens.alice)
        page.click("button[type=submit]")
        page.wait_for_selector("#tasks tr.task")
        assert tokens.alice not in page.url
        cookies = page.context.cookies()
        session = next(c for c in cookies if c["name"] == "resumable_session")
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""

        # Progress moves while the task runs ("3 of 100 (3%)").
        row = _row(page, counting.uuid)
        text = row.locator(".progress-text")
        text.wait_for()
        first = text.inner_text()
        assert re.match(r"\d+ of 100 \(\d+%\)", first), first
        page.wait_for_function(
            """([uuid, first]) => {
                const cell = document.querySelector(`tr.task[data-uuid="${uuid}"] .progress-text`);
                return cell && !cell.textContent.startsWith(first.split(" ")[0] + " of");
            }""",
            arg=[counting.uuid, first],
        )
        assert "ETA" in text.inner_text()

        # A cancel button that cannot work is disabled and says why.
        blocked = _row(page, stubborn.uuid).locator("button.cancel")
        assert blocked.is_disabled()
        reason = _row(page, stubborn.uuid).locator(".reason").inner_text()
        assert "abort handler" in reason
        finished = _row(page, done.uuid)
        assert finished.locator("button.cancel").is_disabled()
        assert "already ended" in finished.locator(".reason").inner_text()

        # Details on demand: the payload.
        _row(page, counting.uuid).locator("button.toggle").click()
        page.wait_for_selector(f'tr.details[data-uuid="{counting.uuid}"] pre.payload')
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "task-page-running.png"), full_page=True)

        # A cookie-authenticated write without the CSRF header is refused.
        status = page.evaluate(
            "async (uuid) => (await fetch(`/api/v1/task/${uuid}/cancel`, {method: 'POST'})).status",
            counting.uuid,
        )
        assert status == 403

        # Cancel through the button; the row ends ABORTED.
        _row(page, counting.uuid).locator("button.cancel").click()
        page.wait_for_selector(f'tr.task[data-uuid="{counting.uuid}"][data-status="aborted"]')
        assert "aborted" in page.locator("#message").inner_text()
        assert _row(page, counting.uuid).locator("button.cancel").is_disabled()
        page.screenshot(path=str(ARTIFACTS / "task-page.png"), full_page=True)
    finally:
        jobs.release[counting_gate].set()
        jobs.release[stubborn_gate].set()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_admins_are_offered_force_and_users_unsubscribe(
    browser_page: Any, server: Server, tokens: Tokens
) -> None:
    page = browser_page
    gate = uuid.uuid4().hex
    options = TaskOptions(task_key=f"dash-{gate}", task_name="Export dashboard 7")
    with acting_as("alice"):
        shared = jobs.shared.schedule(gate, options=options)
    with acting_as("bob"):
        jobs.shared.schedule(gate, options=options)
    try:
        assert jobs.entered[gate].wait(jobs.DEADLINE)
        # The page takes a bearer header as well (here: set for every request).
        page.context.set_extra_http_headers(tokens.headers("bob"))
        page.goto(server.url + "/")
        row = _row(page, shared.uuid)
        row.wait_for()
        assert row.locator("button.force").count() == 0  # not an admin
        row.locator("button.cancel").click()  # bob only unsubscribes: alice still wants it
        page.wait_for_function(
            "() => document.querySelector('#message').textContent.includes('unsubscribed')"
        )
        # No longer his to see. The page says so before its list refresh has come back:
        # wait for the row to go rather than count it at once.
        _row(page, shared.uuid).wait_for(state="detached")

        page.context.set_extra_http_headers(tokens.headers("admin"))
        page.goto(server.url + "/")
        force = _row(page, shared.uuid).locator("button.force")
        force.wait_for()
        assert "(admin)" in page.locator("header .who").inner_text()
        force.click()
        page.wait_for_selector(f'tr.task[data-uuid="{shared.uuid}"][data-status="aborted"]')
    finally:
        jobs.release[gate].set()
