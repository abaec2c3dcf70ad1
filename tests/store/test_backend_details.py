"""Backend behaviour the generic suite cannot see: Redis layout and purge, SQL scope ids.

These check what docs/store.md promises about each backend (the documented Redis key
layout, purge staying inside its own prefix, long scope names on SQL), with the real
servers.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy

import resumable
from resumable._db.engine import open_database
from tests.conftest import POSTGRES_URL, REDIS_URL, VOLATILE, make_url, require_server


@pytest.fixture
def redis_client() -> Iterator[object]:
    require_server("redis")
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


def _cleanup(client: object, prefix: str) -> None:
    keys = list(client.scan_iter(match=prefix.replace("*", "\\*") + "*"))  # type: ignore[attr-defined]
    if keys:
        client.delete(*keys)  # type: ignore[attr-defined]


def test_redis_layout_is_as_documented(redis_client: object) -> None:
    prefix = f"doc-{uuid.uuid4().hex[:8]}:"
    try:
        with resumable.open_store(f"{REDIS_URL}?prefix={prefix}&{VOLATILE}") as store:
            ts = store.scope("a:b", "run")
            ts.set("forever", {"x": 1}, retention=resumable.NEVER_EXPIRE)
            ts.new_attempt()
        entries = redis_client.hgetall(f"{prefix}state:3:a:b:run")  # type: ignore[attr-defined]
        assert entries == {"forever": '0|{"x":1}'}
        assert redis_client.get(f"{prefix}attempt:3:a:b:run") == "1"  # type: ignore[attr-defined]
    finally:
        _cleanup(redis_client, prefix)


def test_redis_purge_stays_inside_its_prefix(redis_client: object) -> None:
    # A prefix full of glob characters must not make purge match other prefixes' keys.
    token = uuid.uuid4().hex[:8]
    mine, other = f"p*[{token}]?:", f"p-{token}:"
    try:
        with (
            resumable.open_store(f"{REDIS_URL}?prefix={mine}&{VOLATILE}") as store,
            resumable.open_store(f"{REDIS_URL}?prefix={other}&{VOLATILE}") as neighbour,
        ):
            for opened in (store, neighbour):
                ts = opened.scope("ns", "run")
                ts.set("short", 1, retention=timedelta(milliseconds=30))
                ts.set("kept", 2)
            time.sleep(0.1)
            assert store.purge_expired() == 1
            raw = redis_client.hgetall(f"{other}state:2:ns:run")  # type: ignore[attr-defined]
            assert sorted(raw) == ["kept", "short"]  # the neighbour's row is untouched
            assert neighbour.purge_expired() == 1
            assert store.scope("ns", "run").keys() == ["kept"]
    finally:
        _cleanup(redis_client, mine)
        _cleanup(redis_client, other)


def test_purge_spares_keys_rewritten_with_a_longer_retention(store_url: str) -> None:
    with resumable.open_store(store_url) as store:
        ts = store.scope("ns", "run")
        for i in range(30):
            ts.set(f"k{i}", i, retention=timedelta(milliseconds=30))
        ts.update({f"k{i}": -i for i in range(0, 30, 2)}, retention=resumable.NEVER_EXPIRE)
        time.sleep(0.1)
        assert store.purge_expired() == 15
        assert ts.keys() == sorted(f"k{i}" for i in range(0, 30, 2))
        assert ts.get("k4") == -4


@pytest.mark.parametrize("length", [100, 300, 512])
def test_long_scope_names_stay_isolated(store_url: str, length: int) -> None:
    # Past 512 bytes the SQL backends identify a scope by a hash of its names: scopes
    # that differ only in their last character must still be apart.
    with resumable.open_store(store_url) as store:
        base = "語" * (length - 1)
        a = store.scope(base + "a", base + "x")
        b = store.scope(base + "b", base + "x")
        c = store.scope(base + "a", base + "y")
        for name, scope in (("a", a), ("b", b), ("c", c)):
            scope.set("owner", name)
            scope.new_attempt().set("fenced", name)
        assert [s.get("owner") for s in (a, b, c)] == ["a", "b", "c"]
        first = a.new_attempt()
        a.new_attempt()
        with pytest.raises(resumable.StaleAttemptError):
            first.set("owner", "zombie")
        b.new_attempt().set("owner", "b2")  # b's attempts are its own
        a.clear()
        assert a.keys() == []
        assert b.keys() == ["fenced", "owner"]
        assert c.get("owner") == "c"


def test_many_threads_share_one_store(store_url: str) -> None:
    threads, rounds = 12, 40
    errors: list[BaseException] = []
    with resumable.open_store(store_url) as store:

        def work(me: int) -> None:
            try:
                own = store.scope("threads", f"t{me}")
                shared = store.scope("threads", "shared")
                for j in range(rounds):
                    own.set(f"k{j}", [me, j])
                    shared.update({f"{me}:{j}": j})
                    assert own.get(f"k{j}") == [me, j]
            except BaseException as exc:  # reported below, with the thread that failed
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(me,)) for me in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert errors == []
        assert len(store.scope("threads", "shared").keys()) == threads * rounds
        for me in range(threads):
            assert store.scope("threads", f"t{me}").get(f"k{rounds - 1}") == [me, rounds - 1]


def test_postgres_store_survives_its_connections_being_killed(tmp_path: object) -> None:
    url, cleanup = make_url("postgres", tmp_path)  # type: ignore[arg-type]
    name = f"resumable-kill-{uuid.uuid4().hex[:8]}"
    admin = open_database(POSTGRES_URL)
    try:
        with resumable.open_store(f"{url}&application_name={name}") as store:
            ts = store.scope("ns", "run")
            ts.set("k", 1)
            fenced = ts.new_attempt()
            with admin.auto.connect() as conn:
                killed = conn.execute(
                    sqlalchemy.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": name},
                ).scalar()
            assert killed >= 1
            # Every cached connection is dead now; each call finds out and reconnects.
            assert ts.get("k") == 1
            ts.set("k", 2)
            fenced.set("f", 3)
            assert ts.keys() == ["f", "k"]
            assert ts.new_attempt().attempt == 2
    finally:
        admin.dispose()
        cleanup()  # type: ignore[operator]


def test_redis_store_survives_its_connection_being_killed(redis_client: object) -> None:
    prefix = f"kill-{uuid.uuid4().hex[:8]}:"
    name = prefix.rstrip(":")
    try:
        with resumable.open_store(
            f"{REDIS_URL}?prefix={prefix}&client_name={name}&{VOLATILE}"
        ) as store:
            ts = store.scope("ns", "run")
            ts.set("k", 1)
            fenced = ts.new_attempt()
            assert redis_client.client_kill_filter(_type=None, skipme=True, client_name=name) >= 1  # type: ignore[attr-defined]
            assert ts.get("k") == 1
            ts.set("k", 2)
            fenced.set("f", 3)
            assert ts.keys() == ["f", "k"]
    finally:
        _cleanup(redis_client, prefix)


@pytest.mark.slow
def test_store_opened_before_fork_works_in_parent_and_child(shared_store_url: str) -> None:
    # Prefork servers (Celery, gunicorn) open a store and then fork: the child must not
    # reuse the parent's connections, and must not break them either.
    with resumable.open_store(shared_store_url) as store:
        ts = store.scope("fork", "run")
        ts.set("before", 1)
        assert ts.get("before") == 1  # a connection is now cached in the parent
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() in a process that has threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report through the exit code only, never raise
            code = 1
            try:
                ts.set("child", 2)
                code = 0 if ts.get("child") == 2 and ts.get("before") == 1 else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        ts.set("parent", 3)
        assert ts.keys() == ["before", "child", "parent"]


def test_sqlite_in_wal_mode_opens_while_another_connection_holds_it(tmp_path: Path) -> None:
    """A new connection to a file already in WAL mode does not ask for the exclusive
    lock a switch needs: it opens while another connection writes."""
    import sqlite3

    path = tmp_path / "busy.db"
    first = open_database(f"sqlite:///{path}")
    with first.auto.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.commit()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
    holder.execute("INSERT INTO t VALUES (1)")
    try:
        second = open_database(f"sqlite:///{path}")
        with second.auto.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        second.dispose()
    finally:
        holder.rollback()
        holder.close()
        first.dispose()


def test_processes_opening_one_fresh_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    script = (
        "import sys, resumable\n"
        "store = resumable.open_store(sys.argv[1])\n"
        "store.scope('ns', sys.argv[2]).set('k', 1)\n"
        "store.close()\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, url, f"run-{i}"], stderr=subprocess.PIPE)
        for i in range(6)
    ]
    outcomes = [(p.communicate(timeout=120)[1], p.returncode) for p in processes]
    assert [err.decode() for err, code in outcomes if code != 0] == []
    store = resumable.open_store(url)
    try:
        assert [store.scope("ns", f"run-{i}").get("k") for i in range(6)] == [1] * 6
    finally:
        store.close()


def test_array_literal_reads_back_as_the_same_strings_on_postgres() -> None:
    """The claim passes its task names as one varchar[] literal: whatever a name holds
    (quotes, backslashes, commas, braces, spaces, the word NULL), PostgreSQL must read
    back exactly that name."""
    require_server("postgres")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from resumable._db.dialect import array_literal

    database = open_database(POSTGRES_URL)
    tricky = ['a"b', "c\\d", "e,f", "{g}", " h ", "NULL", "", "ünï", "tests.x.y"]
    query = sqlalchemy.text("SELECT CAST(:names AS VARCHAR[])")
    text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))

    try:
        with database.auto.connect() as conn:

            def read_back(names: list[str]) -> list[str]:
                return list(conn.execute(query, {"names": array_literal(names)}).scalar_one())

            assert read_back(tricky) == sorted(tricky)

            @settings(max_examples=60, deadline=None)
            @given(st.lists(text, max_size=5))
            def any_names(names: list[str]) -> None:
                assert read_back(names) == sorted(names)

            any_names()
    finally:
        database.dispose()
