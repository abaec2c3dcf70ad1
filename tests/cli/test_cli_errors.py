"""User errors of every command: exit 1, one ``Error:`` line on stderr, no traceback.

Run in-process through ``resumable.cli.main`` (the console script's function), which is
fast enough to cover every subcommand; ``test_store_cli.py`` and the Ctrl-C test run the
installed script as real processes.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

import resumable
from tests.cli.conftest import Cli, run_entry_point
from tests.conftest import POSTGRES_URL, require_server

DOWN_PG = "postgresql://user:secret@127.0.0.1:1/db"
DOWN_REDIS = "redis://:secret@127.0.0.1:1/0"
A_UUID = str(uuid.uuid4())


def _user_errors(tmp: Path) -> list[tuple[list[str], str]]:
    db = f"sqlite:///{tmp / 'state.db'}"
    deep = tmp / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    broken = tmp / "broken_tasks_module.py"
    broken.write_text("raise RuntimeError('no config here')\n")
    bad_syntax = tmp / "bad_syntax_module.py"
    bad_syntax.write_text("def (:\n")
    return [
        # worker
        (["worker", "--import", "no_such_module"], "cannot import 'no_such_module'"),
        (["worker", "--import", "broken_tasks_module"], "RuntimeError: no config here"),
        (["worker", "--import", "bad_syntax_module"], "bad_syntax_module.py, line 1"),
        (["worker", "--redis-url", "ftp://x"], "'ftp://x' is not a Redis URL"),
        (["worker", "--redis-url", "redis://h:6379/abc"], "must be a number"),
        (["worker", "--database-url", "sqlite://"], "in-memory SQLite"),
        (["worker", "--database-url", "memory://"], "database_url must be"),
        (["worker", "--concurrency", "0"], "--concurrency"),
        (["worker", "--lease", "soon"], "'soon' is not a duration"),
        # db migrate
        (["db", "migrate", "--url", "sqlite://"], "in-memory SQLite"),
        (["db", "migrate", "--url", "sqlite:///:memory:"], "'sqlite:///:memory:'"),
        (["db", "migrate", "--url", "memory://"], "memory:// lives in this process only"),
        (["db", "migrate", "--url", DOWN_PG], "127.0.0.1:1"),
        # store
        (["store", "get", "--url", "memory://", "ns", "s", "k"], "memory://"),
        (["store", "set", "--url", "memory://x", "ns", "s", "k", "1"], "memory://"),
        (["store", "list", "--url", "redis://127.0.0.1:6379/abc", "ns", "s"], "'abc'"),
        (["store", "get", "--url", DOWN_REDIS, "ns", "s", "k"], "127.0.0.1:1"),
        (["store", "set", "--url", db, "ns", "s", "k", "{bad"], "not valid JSON"),
        (["store", "set", "--url", db, "ns", "s", "k", f"@{deep}"], "nested more than 100"),
        (["store", "set", "--url", db, "ns", "s", "k", "[" * 150 + "]" * 150], "limit is 100"),
        (["store", "set", "--url", db, "ns", "s", "k", f"@{tmp / 'nope'}"], "cannot read"),
        (["store", "set", "--url", db, "ns", "s", "k", "1", "--retention", "x"], "'x'"),
        # tasks
        (["tasks", "list", "--database-url", "sqlite://"], "in-memory SQLite"),
        (["tasks", "list", "--database-url", "redis://x"], "database_url must be"),
        (["tasks", "list", "--database-url", DOWN_PG], "127.0.0.1:1"),
        (["tasks", "list", "--status", "bogus"], "'bogus' is not one of"),
        (["tasks", "list", "--limit", "0"], "--limit"),
        (["tasks", "show", "--database-url", DOWN_PG, A_UUID], "unavailable"),
        (["tasks", "show", "--database-url", db, "zz-top"], "not a task uuid"),
        (["tasks", "show", "--database-url", db, "x" * 36], "not a task uuid"),
        (["tasks", "cancel", "--database-url", db, "g"], "not a task uuid"),
        (["tasks", "watch", "--timeout", "7x", A_UUID], "'7x' is not a duration"),
        (["tasks", "watch", "--timeout", "0", A_UUID], "positive"),
        (["tasks", "watch", "--interval", "x", A_UUID], "--interval"),
        (["tasks", "state", "--force", A_UUID], "--force only goes with --clear"),
        (["tasks", "state", "--database-url", DOWN_PG, A_UUID], "unavailable"),
        (["tasks", "prune", "--older-than", "7x"], "'7x'"),
        (["tasks", "prune", "--database-url", "sqlite:///:memory:"], "in-memory SQLite"),
        # api
        (["api", "--database-url", "sqlite://"], "in-memory SQLite"),
        (["api", "token", "create", "alice", "--database-url", "sqlite://"], "in-memory"),
        # demo
        (["demo", "--url", "sqlite://"], "in-memory SQLite"),
        (["demo", "--url", "memory://"], "use a shared store"),
        # anything
        (["frobnicate"], "No such command"),
    ]


def test_user_errors_are_one_line(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("RESUMABLE_DATABASE_URL", f"sqlite:///{tmp_path / 'tasks.db'}")
    for args, expected in _user_errors(tmp_path):
        line = cli(*args).error_line()
        assert expected in line, (args, line)
        assert "secret" not in line, (args, line)
    # Every error above came before anything was written or created.
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".py") == ["deep.json"]


def test_task_not_found(cli: Cli, configure_tasks: object) -> None:
    url = resumable.configure(executor="worker").database_url  # the test's own database
    cli("tasks", "prune", "--database-url", url)  # creates the tables
    for command in ("show", "watch", "cancel", "state"):
        line = cli("tasks", command, "--database-url", url, A_UUID).error_line()
        assert f"task {A_UUID} not found" in line


# -- read-only commands create nothing ---------------------------------------------------

READ_ONLY = [
    ["tasks", "list", "--database-url", "{url}"],
    ["tasks", "show", "--database-url", "{url}", A_UUID],
    ["tasks", "watch", "--database-url", "{url}", A_UUID],
    ["tasks", "state", "--database-url", "{url}", A_UUID],
    ["tasks", "cancel", "--database-url", "{url}", A_UUID],
    ["store", "get", "--url", "{url}", "ns", "run-1", "k"],
    ["store", "list", "--url", "{url}", "ns", "run-1"],
]


def _each_read_only(cli: Cli, url: str) -> list[str]:
    return [cli(*(a.format(url=url) for a in args)).error_line() for args in READ_ONLY]


def test_read_only_commands_create_no_sqlite_file(cli: Cli, tmp_path: Path) -> None:
    typo = tmp_path / "no-such-dir" / "state.db"
    for line in _each_read_only(cli, f"sqlite:///{typo}"):
        assert f"no such database: {typo} does not exist" in line
        assert "resumable db migrate" in line
    assert not typo.parent.exists()

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    for line in _each_read_only(cli, f"sqlite:///{empty}"):
        assert "is not initialised" in line
    with sqlite3.connect(empty) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_read_only_commands_create_no_postgres_schema(cli: Cli) -> None:
    require_server("postgres")
    import sqlalchemy

    schema = f"t_typo_{uuid.uuid4().hex[:10]}"
    url = f"{POSTGRES_URL}?schema={schema}"
    for line in _each_read_only(cli, url):
        assert "is not initialised" in line
    from resumable._db.engine import open_database

    database = open_database(POSTGRES_URL)
    with database.auto.connect() as conn:
        found = conn.execute(
            sqlalchemy.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
            {"s": schema},
        ).first()
    database.dispose()
    assert found is None


def test_writing_commands_create_what_they_need(cli: Cli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'state.db'}"
    assert cli("store", "set", "--url", url, "ns", "run-1", "k", "1").code == 0
    assert cli("store", "get", "--url", url, "ns", "run-1", "k").out.strip() == "1"
    tasks_url = f"sqlite:///{tmp_path / 'tasks' / 'tasks.db'}"
    assert cli("tasks", "prune", "--database-url", tasks_url).code == 0
    assert "0 task(s)" in cli("tasks", "list", "--database-url", tasks_url).out


# -- URLs --------------------------------------------------------------------------------


def test_open_store_refuses_a_redis_database_that_is_not_a_number() -> None:
    for url in ("redis://127.0.0.1:6379/abc", "redis://127.0.0.1:6379/0?db=x"):
        with pytest.raises(resumable.StoreUnavailableError, match="must be a number"):
            resumable.open_store(url)
    for url in ("redis://127.0.0.1:6379/abc", "ftp://x"):
        with pytest.raises(resumable.ConfigurationError, match="redis_url"):
            resumable.configure(redis_url=url)
    # The Python API still offers the in-process store (tests, notebooks).
    with resumable.open_store("memory://") as store:
        store.scope("ns", "k").set("a", 1)


# -- values from stdin or a file ---------------------------------------------------------


@pytest.mark.slow
def test_store_set_reads_the_value_from_stdin_or_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    done = run_entry_point("store", "set", "--url", url, "ns", "r", "k", "-", stdin='{"a": [1]}')
    assert (done.returncode, done.stderr) == (0, "")
    bad = run_entry_point("store", "set", "--url", url, "ns", "r", "k", "-", stdin="{oops")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: VALUE_JSON is not valid JSON")
    value_file = tmp_path / "value.json"
    value_file.write_text('{"b": "ü"}', encoding="utf-8")
    done = run_entry_point("store", "set", "--url", url, "ns", "r", "f", f"@{value_file}")
    assert (done.returncode, done.stderr) == (0, "")
    with resumable.open_store(url) as store:
        assert store.scope("ns", "r").get("k") == {"a": [1]}
        assert store.scope("ns", "r").get("f") == {"b": "ü"}
