"""``resumable tasks``: Ctrl-C, ``watch --timeout``, ``state``, and 80-column tables."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, TaskScope, get_context, task
from tests.cli.conftest import Cli, entry_point

# Runs argv[1:] with SIGINT at its default disposition.
_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _fits(text: str, width: int) -> None:
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"


@pytest.mark.slow
def test_ctrl_c_in_watch_exits_130_saying_interrupted(configure_tasks: Any) -> None:
    url = configure_tasks(executor="worker").database_url  # nothing runs the task

    @task
    def parked() -> None:
        pass

    t = parked.schedule()
    # On a terminal the bar is drawn at once: its first bytes say that the command is
    # in its watch loop (a Ctrl-C while Python is still starting up is not ours).
    # The terminal is ours, so its TERM is too: rich draws no live bar on the TERM=dumb
    # (or unknown) that CI runners and editors' consoles pass down, and the test would
    # wait in vain. Nor may FORCE_COLOR or TTY_COMPATIBLE say it is no terminal.
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "TTY_COMPATIBLE"}},
        "COLUMNS": "80",
        "TERM": "xterm",
    }
    # A shell started in the background (CI's may be) passes SIGINT down ignored, and
    # Python then keeps ignoring it: the watcher starts with the default disposition, as
    # from a terminal's shell, or the Ctrl-C below would go unheard.
    command = [entry_point(), "tasks", "watch", "--database-url", url, t.uuid]
    terminal, child_end = pty.openpty()
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-c", _WITH_DEFAULT_SIGINT, *command],
            stdout=child_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        os.close(child_end)
        try:
            drawn = b""
            deadline = time.monotonic() + 60
            while not drawn and time.monotonic() < deadline:
                if select.select([terminal], [], [], 0.5)[0]:
                    drawn = os.read(terminal, 1024)
            assert drawn, "tasks watch drew nothing"
            watcher.send_signal(signal.SIGINT)
            # Keep reading the terminal until it exits: the bar is redrawn ten times a
            # second, and a full pty buffer would block the watcher in a write.
            deadline = time.monotonic() + 60
            while watcher.poll() is None and time.monotonic() < deadline:
                if select.select([terminal], [], [], 0.5)[0]:
                    try:
                        os.read(terminal, 4096)
                    except OSError:  # EIO: the watcher's end is closed, it is exiting
                        break
            _, err = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.communicate()
    finally:
        os.close(terminal)
    assert watcher.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == ["interrupted"]


def test_watch_timeout_gives_up_with_its_own_code(cli: Cli, configure_tasks: Any) -> None:
    url = configure_tasks(executor="worker").database_url

    @task
    def parked() -> None:
        pass

    t = parked.schedule()
    started = time.monotonic()
    result = cli("tasks", "watch", "--database-url", url, "--timeout", "0.3", t.uuid)
    assert time.monotonic() - started < 30
    assert result.code == 124, result.err
    assert result.err.splitlines() == [
        f"Error: gave up watching after less than a second: task {t.uuid} is still pending"
    ]
    # The task itself goes on.
    assert resumable.get_task(t.uuid).status == "pending"


def test_state_shows_and_clears_a_tasks_ctx_store(cli: Cli, configure_tasks: Any) -> None:
    url = configure_tasks(executor="inline").database_url

    @task(scope=TaskScope.SHARED)
    def export(n: int) -> None:
        ctx = get_context()
        ctx.store.set("done", ctx.store.get("done", 0) + n)
        raise RuntimeError("disk full")  # failed runs keep their checkpoints

    with resumable.acting_as("alice"):
        first = export(3, options=TaskOptions(task_key="exp"))
    assert first.status == "failure"

    shown = cli("tasks", "state", "--database-url", url, first.uuid[:8])
    assert shown.code == 0, shown.err
    state = json.loads(shown.out)
    assert state["state"] == {"done": 3}
    assert state["namespace"] == f"resumable.task:{first.name}"
    # The scope is the task's identity (name + key): the store commands reach it too.
    got = cli("store", "get", "--url", url, state["namespace"], state["scope_key"], "done")
    assert got.out.strip() == "3"

    line = cli("tasks", "state", "--database-url", url, "--user", "bob", first.uuid)
    assert "not found" in line.error_line()  # bob may not even see it

    # A newer run of the same identity is pending: clearing under it needs --force.
    configure_tasks(executor="worker")
    with resumable.acting_as("alice"):
        pending = export.schedule(5, options=TaskOptions(task_key="exp"))
    with resumable.acting_as("bob"):
        export.schedule(5, options=TaskOptions(task_key="exp"))  # subscribes: bob sees it
    by_bob = cli("tasks", "state", "--database-url", url, "--user", "bob", "--clear", pending.uuid)
    assert "only the task's creator or an admin" in by_bob.error_line()
    refused = cli("tasks", "state", "--database-url", url, "--user", "alice", "--clear", first.uuid)
    assert f"task {pending.uuid} is pending" in refused.error_line()
    assert "--force" in refused.err
    assert json.loads(cli("tasks", "state", "--database-url", url, first.uuid).out)["state"]
    cleared = cli("tasks", "state", "--database-url", url, "--clear", "--force", first.uuid)
    assert (cleared.code, cleared.out.strip()) == (0, f"cleared 1 key of task {first.uuid}")
    assert json.loads(cli("tasks", "state", "--database-url", url, first.uuid).out)["state"] == {}


def test_state_of_a_finished_task_clears_without_force(cli: Cli, configure_tasks: Any) -> None:
    url = configure_tasks(executor="inline").database_url

    @task(keep_state=True)
    def kept() -> None:
        get_context().store.update({"a": 1, "b": [1, 2]})

    t = kept()
    assert json.loads(cli("tasks", "state", "--database-url", url, t.uuid).out)["state"] == {
        "a": 1,
        "b": [1, 2],
    }
    cleared = cli("tasks", "state", "--database-url", url, "--clear", t.uuid)
    assert cleared.out.strip() == f"cleared 2 keys of task {t.uuid}"


# -- 80 columns --------------------------------------------------------------------------


def test_tables_fit_80_columns(
    cli: Cli, configure_tasks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = configure_tasks(executor="worker").database_url

    @task(scope=TaskScope.SHARED)
    def nightly_export_of_every_invoice_to_the_data_warehouse(n: int) -> None:
        get_context().update_task(progress=(n, 2 * n), payload={"rows": n})

    resumable.configure(database_url=url, executor="inline")
    ran = nightly_export_of_every_invoice_to_the_data_warehouse(
        1234, options=TaskOptions(task_key="a", task_name="Nightly export of every invoice")
    )
    resumable.configure(database_url=url, executor="worker")
    for user in ("alice", "bob", "carol-from-accounting"):
        with resumable.acting_as(user):
            parked = nightly_export_of_every_invoice_to_the_data_warehouse.schedule(
                1, options=TaskOptions(task_key="b")
            )

    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("tasks", "list", "--database-url", url)
    assert narrow.code == 0, narrow.err
    _fits(narrow.out, 80)
    assert "…" not in narrow.out  # nothing cut: columns dropped whole, names wrapped
    for essential in (ran.uuid[:8], parked.uuid[:8], "success", "pending", "progress", "50%"):
        assert essential in narrow.out, narrow.out
    assert "not shown at 80 columns:" in narrow.out and "subscribers" in narrow.out
    assert "Nightly export" in narrow.out

    full = cli("tasks", "list", "--database-url", url, "--full-uuid")
    _fits(full.out, 80)
    assert ran.uuid in full.out

    shown = cli("tasks", "show", "--database-url", url, ran.uuid)
    _fits(shown.out, 80)
    assert "…" not in shown.out and "(1234/2468)" in shown.out  # long names fold, whole

    cli("store", "set", "--url", url, "ns", "r", "long", json.dumps(["x" * 30] * 10))
    _fits(cli("store", "list", "--url", url, "ns", "r").out, 80)

    monkeypatch.setenv("COLUMNS", "250")
    wide = cli("tasks", "list", "--database-url", url)
    assert "not shown" not in wide.out
    assert "alice, bob, carol-from-accounting" in wide.out
