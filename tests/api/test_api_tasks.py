"""Every endpoint, status code and permission rule, on SQLite and PostgreSQL, with tasks
running on the thread executor of this process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import httpx
import pytest

import resumable
from resumable import TaskOptions, acting_as
from resumable._config import Settings
from tests.api import jobs
from tests.api.conftest import Tokens

pytestmark = pytest.mark.usefixtures("tasks_db")


@pytest.fixture
def gate() -> Iterator[str]:
    name = uuid.uuid4().hex
    yield name
    jobs.release[name].set()


def _started(gate: str) -> None:
    assert jobs.entered[gate].wait(jobs.DEADLINE), "the task never started"


def _iso_utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timezone.utc.utcoffset(None)
    return parsed


# -- authentication -----------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/api/v1/task/"),
    ("GET", "/api/v1/task/00000000-0000-4000-8000-000000000000"),
    ("GET", "/api/v1/task/00000000-0000-4000-8000-000000000000/status"),
    ("POST", "/api/v1/task/00000000-0000-4000-8000-000000000000/cancel"),
    ("GET", "/api/v1/store/ns/key"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


def test_health_answers_without_a_token(client: httpx.Client) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer rsm_not-a-real-token", "Bearer", "Basic YWxpY2U6eA==", "x"]
)
def test_nothing_else_answers_without_a_valid_token(
    client: httpx.Client, tokens: Tokens, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.request(method, path, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


def test_a_revoked_token_stops_working(client: httpx.Client, tokens: Tokens) -> None:
    assert client.get("/api/v1/task/", headers=tokens.headers("bob")).status_code == 200
    assert tokens.store.revoke("bob") == 1
    response = client.get("/api/v1/task/", headers=tokens.headers("bob"))
    assert response.status_code == 401
    assert client.get("/api/v1/task/", headers=tokens.headers("alice")).status_code == 200


def test_only_a_hash_of_the_token_is_stored(tokens: Tokens, tasks_db: Settings) -> None:
    from sqlalchemy import select

    from resumable._db.engine import open_database
    from resumable.api._tokens import hash_token
    from resumable.migrations.schema import api_tokens

    database = open_database(tasks_db.database_url)
    with database.auto.connect() as conn:
        rows = conn.execute(select(api_tokens)).mappings().all()
    database.dispose()
    stored = {row["token_hash"] for row in rows}
    assert hash_token(tokens.alice) in stored
    assert not any(tokens.alice in str(value) for row in rows for value in row.values())
    assert {row["user_id"]: row["admin"] for row in rows}["root"] is True


def test_openapi_schema_and_docs_are_served(client: httpx.Client, tokens: Tokens) -> None:
    schema = client.get("/openapi.json", headers=tokens.headers("alice")).json()
    assert set(schema["paths"]) >= {
        "/health",
        "/api/v1/task/",
        "/api/v1/task/{task_uuid}",
        "/api/v1/task/{task_uuid}/status",
        "/api/v1/task/{task_uuid}/cancel",
        "/api/v1/store/{namespace}/{scope_key}",
    }
    assert "TaskOut" in schema["components"]["schemas"]
    docs = client.get("/docs", headers=tokens.headers("alice"))
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# -- reading ------------------------------------------------------------------------------


def test_a_task_as_json_with_every_field(client: httpx.Client, tokens: Tokens, gate: str) -> None:
    with acting_as("alice"):
        t = jobs.abortable.schedule(gate, options=TaskOptions(task_key="k1", task_name="One"))
    _started(gate)
    response = client.get(f"/api/v1/task/{t.uuid}", headers=tokens.headers("alice"))
    assert response.status_code == 200
    body = response.json()
    for field in [
        "uuid",
        "name",
        "task_key",
        "task_name",
        "scope",
        "status",
        "result",
        "attempt",
        "progress",
        "payload",
        "error_message",
        "exception_type",
        "stack_trace",
        "subscribers",
        "created_at",
        "started_at",
        "ended_at",
    ]:
        assert field in body, field
    assert body["uuid"] == t.uuid and body["name"] == "api_tests.abortable"
    assert (body["task_key"], body["task_name"], body["scope"]) == ("k1", "One", "private")
    assert (body["status"], body["attempt"], body["subscribers"]) == ("in_progress", 1, ["alice"])
    assert body["payload"] == {"gate": gate}
    progress = body["progress"]
    assert (progress["current"], progress["total"], progress["fraction"]) == (1, 4, 0.25)
    # Computed when read: the library's ETA for a task 1/4 done after some time.
    assert progress["eta_seconds"] is not None and progress["eta_seconds"] >= 0
    assert _iso_utc(body["created_at"]) <= _iso_utc(body["started_at"])
    assert body["ended_at"] is None
    assert body["cancellable"] is True and body["cancel_blocked_reason"] is None
    status = client.get(f"/api/v1/task/{t.uuid}/status", headers=tokens.headers("alice"))
    assert status.json() == {"status": "in_progress"}
    # Upper-case uuids name the same task.
    upper = client.get(f"/api/v1/task/{t.uuid.upper()}/status", headers=tokens.headers("alice"))
    assert upper.json() == {"status": "in_progress"}


def test_a_failed_task_shows_its_error(client: httpx.Client, tokens: Tokens) -> None:
    with acting_as("alice"):
        t = jobs.broken()
    body = client.get(f"/api/v1/task/{t.uuid}", headers=tokens.headers("alice")).json()
    assert (body["status"], body["exception_type"], body["error_message"]) == (
        "failure",
        "RuntimeError",
        "disk full",
    )
    assert "Traceback" in body["stack_trace"]
    _iso_utc(body["ended_at"])
    assert body["cancellable"] is False
    assert body["cancel_blocked_reason"] == "already ended (failure)"


def test_the_result_is_the_library_s(client: httpx.Client, tokens: Tokens) -> None:
    with acting_as("alice"):
        t = jobs.returning(3)
        assert resumable.get_task(t.uuid).result == {"rows": 3}
    body = client.get(f"/api/v1/task/{t.uuid}", headers=tokens.headers("alice")).json()
    assert body["status"] == "success" and body["result"] == {"rows": 3}


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "00000000-0000-4000-8000-00000000000g"])
def test_a_malformed_uuid_is_422(client: httpx.Client, tokens: Tokens, bad: str) -> None:
    for path in (f"/api/v1/task/{bad}", f"/api/v1/task/{bad}/status"):
        response = client.get(path, headers=tokens.headers("alice"))
        assert response.status_code == 422
        assert "uuid" in response.json()["detail"].lower()


def test_an_unknown_or_invisible_task_is_404(client: httpx.Client, tokens: Tokens) -> None:
    with acting_as("alice"):
        private = jobs.quick(1)
    name = uuid.uuid4().hex
    with acting_as("alice"):
        system = jobs.system.schedule(name)
    jobs.release[name].set()
    missing = str(uuid.uuid4())
    for who, task_uuid in (("bob", private.uuid), ("bob", system.uuid), ("alice", missing)):
        for suffix in ("", "/status"):
            response = client.get(f"/api/v1/task/{task_uuid}{suffix}", headers=tokens.headers(who))
            assert response.status_code == 404, (who, task_uuid)
            assert "not found" in response.json()["detail"]
    # The admin sees every task, the system one included.
    for task_uuid in (private.uuid, system.uuid):
        assert client.get(f"/api/v1/task/{task_uuid}", headers=tokens.headers("admin")).is_success


def _listing(client: httpx.Client, who: str, tokens: Tokens, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get("/api/v1/task/", params=params, headers=tokens.headers(who))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_listing_shows_only_what_the_user_may_see(client: httpx.Client, tokens: Tokens) -> None:
    with acting_as("alice"):
        a = jobs.quick(1)
    with acting_as("bob"):
        b = jobs.quick(2)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    with acting_as("alice"):
        s = jobs.shared.schedule(first, options=TaskOptions(task_key="s1"))
    with acting_as("carol"):
        assert jobs.shared.schedule(first, options=TaskOptions(task_key="s1")).uuid == s.uuid
    jobs.release[first].set()
    system = jobs.system.schedule(second)  # the system creates it: only admins see it
    jobs.release[second].set()

    def uuids(who: str, **params: object) -> set[str]:
        return {t["uuid"] for t in _listing(client, who, tokens, **params)["result"]}

    assert uuids("alice") == {a.uuid, s.uuid}
    assert uuids("bob") == {b.uuid}
    assert uuids("carol") == {s.uuid}
    assert uuids("admin") == {a.uuid, b.uuid, s.uuid, system.uuid}
    assert _listing(client, "alice", tokens)["count"] == 2


def test_listing_filters_and_pages_newest_first(client: httpx.Client, tokens: Tokens) -> None:
    with acting_as("alice"):
        made = [jobs.quick(i) for i in range(1, 6)]
        failed = jobs.broken()
    with acting_as("bob"):
        jobs.quick(9)
    newest_first = [failed.uuid, *[t.uuid for t in reversed(made)]]

    page = _listing(client, "alice", tokens, limit=2)
    assert page["count"] == 6
    assert [t["uuid"] for t in page["result"]] == newest_first[:2]
    page = _listing(client, "alice", tokens, limit=2, offset=4)
    assert [t["uuid"] for t in page["result"]] == newest_first[4:]
    assert _listing(client, "alice", tokens, offset=10) == {"count": 6, "result": []}

    assert _listing(client, "alice", tokens, status="failure")["count"] == 1
    assert _listing(client, "alice", tokens, name="api_tests.quick")["count"] == 5
    assert _listing(client, "alice", tokens, name="nope")["count"] == 0
    assert _listing(client, "alice", tokens, scope="private")["count"] == 6
    assert _listing(client, "alice", tokens, scope="shared")["count"] == 0
    assert _listing(client, "admin", tokens, created_by="bob")["count"] == 1
    assert _listing(client, "alice", tokens, created_by="bob")["count"] == 0
    both = _listing(client, "admin", tokens, status="success", created_by="alice", limit=1)
    assert both["count"] == 5 and both["result"][0]["uuid"] == made[-1].uuid


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"limit": -1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": 100_000}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -5}, "offset"),
        ({"status": "done"}, "status"),
        ({"scope": "public"}, "scope"),
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_listing_input_is_422_with_the_reason(
    client: httpx.Client, tokens: Tokens, params: dict[str, object], reason: str
) -> None:
    response = client.get("/api/v1/task/", params=params, headers=tokens.headers("alice"))
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


# -- cancelling ---------------------------------------------------------------------------


def _cancel(
    client: httpx.Client, tokens: Tokens, who: str, task_uuid: str, **body: object
) -> httpx.Response:
    return client.post(
        f"/api/v1/task/{task_uuid}/cancel", json=body or None, headers=tokens.headers(who)
    )


def test_cancel_aborts_a_running_abortable_task(
    client: httpx.Client, tokens: Tokens, gate: str
) -> None:
    with acting_as("alice"):
        t = jobs.abortable.schedule(gate)
    _started(gate)
    response = _cancel(client, tokens, "alice", t.uuid, force=False)
    assert (response.status_code, response.json()) == (200, {"action": "aborted"})
    with acting_as("alice"):
        assert t.wait(timeout=jobs.DEADLINE).status == "aborted"
    again = _cancel(client, tokens, "alice", t.uuid)
    assert again.status_code == 409 and "already ended" in again.json()["detail"]


def test_cancel_aborts_a_task_declared_abortable_without_a_handler(
    client: httpx.Client, tokens: Tokens, gate: str
) -> None:
    with acting_as("alice"):
        t = jobs.watching.schedule(gate)
    _started(gate)
    listed = client.get(f"/api/v1/task/{t.uuid}", headers=tokens.headers("alice")).json()
    assert listed["cancellable"] is True and listed["cancel_blocked_reason"] is None
    response = _cancel(client, tokens, "alice", t.uuid)
    assert (response.status_code, response.json()) == (200, {"action": "aborted"})
    with acting_as("alice"):
        assert t.wait(timeout=jobs.DEADLINE).status == "aborted"


def test_cancel_without_an_abort_handler_is_409(
    client: httpx.Client, tokens: Tokens, gate: str
) -> None:
    with acting_as("alice"):
        t = jobs.stubborn.schedule(gate)
    _started(gate)
    listed = client.get(f"/api/v1/task/{t.uuid}", headers=tokens.headers("alice")).json()
    assert listed["cancellable"] is False
    assert "abort handler" in listed["cancel_blocked_reason"]
    response = _cancel(client, tokens, "alice", t.uuid)
    assert response.status_code == 409 and "abort handler" in response.json()["detail"]
    assert resumable.get_task(t.uuid).status == "in_progress"


def test_cancel_of_a_pending_task_aborts_it(
    client: httpx.Client, tokens: Tokens, configure_api: Callable[..., object]
) -> None:
    configure_api(executor="worker")  # no worker runs here: the task stays pending
    with acting_as("alice"):
        t = jobs.quick.schedule(1)
    assert _cancel(client, tokens, "alice", t.uuid).json() == {"action": "aborted"}
    assert resumable.get_task(t.uuid).status == "aborted"


def test_cancel_permissions(client: httpx.Client, tokens: Tokens) -> None:
    options = TaskOptions(task_key="shared-1")
    gates = [f"{kind}-{uuid.uuid4().hex}" for kind in ("shared", "system", "private")]
    with acting_as("alice"):
        shared = jobs.shared.schedule(gates[0], options=options)
    with acting_as("bob"):
        jobs.shared.schedule(gates[0], options=options)
    with acting_as("alice"):
        system = jobs.system.schedule(gates[1])  # alice subscribes: she sees it
    with acting_as("alice"):
        private = jobs.abortable.schedule(gates[2])
    for name in gates:
        _started(name)
    try:
        # carol sees none of them: 404, and nothing changes.
        for task_uuid in (shared.uuid, system.uuid, private.uuid):
            assert _cancel(client, tokens, "carol", task_uuid).status_code == 404
        # force without admin: 403; a SYSTEM task without admin: 403.
        forced = _cancel(client, tokens, "bob", shared.uuid, force=True)
        assert forced.status_code == 403 and "admin" in forced.json()["detail"]
        denied = _cancel(client, tokens, "alice", system.uuid)
        assert denied.status_code == 403 and "SYSTEM" in denied.json()["detail"]
        body = client.get(f"/api/v1/task/{system.uuid}", headers=tokens.headers("alice")).json()
        assert body["cancel_blocked_reason"] == "only admins may cancel a SYSTEM task"
        # bob only unsubscribes while alice still wants the shared task.
        assert _cancel(client, tokens, "bob", shared.uuid).json() == {"action": "unsubscribed"}
        assert resumable.get_task(shared.uuid).subscribers == ["alice"]
        assert _cancel(client, tokens, "bob", shared.uuid).status_code == 404  # gone for him
        # The admin aborts the shared task for everyone with force, and the system task.
        assert _cancel(client, tokens, "admin", shared.uuid, force=True).json() == {
            "action": "aborted"
        }
        assert _cancel(client, tokens, "admin", system.uuid).json() == {"action": "aborted"}
        assert _cancel(client, tokens, "alice", private.uuid).json() == {"action": "aborted"}
        for t in (shared, system, private):
            assert resumable.get_task(t.uuid).wait(timeout=jobs.DEADLINE).status == "aborted"
    finally:
        for name in gates:
            jobs.release[name].set()


@pytest.mark.parametrize(
    "body", [{"force": "yes"}, {"force": 1}, {"force": None}, {"forse": True}, [True], "true"]
)
def test_a_bad_cancel_body_is_422(
    client: httpx.Client, tokens: Tokens, gate: str, body: object
) -> None:
    with acting_as("alice"):
        t = jobs.abortable.schedule(gate)
    _started(gate)
    response = client.post(
        f"/api/v1/task/{t.uuid}/cancel", json=body, headers=tokens.headers("alice")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert resumable.get_task(t.uuid).status == "in_progress"  # nothing changed


# -- the checkpoint store -----------------------------------------------------------------


def test_store_scope_is_for_admins_only(
    client: httpx.Client, tokens: Tokens, tasks_db: Settings
) -> None:
    with resumable.open_store(tasks_db.database_url) as store:
        store.scope("daily", "2026-11-21").update({"cursor": {"page": 7}, "rows": [1, 2]})
    path = "/api/v1/store/daily/2026-11-21"
    denied = client.get(path, headers=tokens.headers("alice"))
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]
    answer = client.get(path, headers=tokens.headers("admin"))
    assert answer.json() == {
        "namespace": "daily",
        "scope_key": "2026-11-21",
        "values": {"cursor": {"page": 7}, "rows": [1, 2]},
    }
    empty = client.get("/api/v1/store/daily/other", headers=tokens.headers("admin")).json()
    assert empty["values"] == {}
    too_long = client.get(f"/api/v1/store/{'n' * 513}/k", headers=tokens.headers("admin"))
    assert too_long.status_code == 422
