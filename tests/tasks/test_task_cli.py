"""``resumable tasks list|show|cancel|prune|watch``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import resumable
from resumable import TaskOptions, TaskScope, get_context, task
from resumable.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["tasks", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_show_cancel_prune(
    configure_tasks: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure_tasks(executor="worker")
    monkeypatch.setenv("COLUMNS", "200")
    url = settings.database_url

    @task(scope=TaskScope.SHARED)
    def report(n: int) -> dict[str, int]:
        get_context().update_task(progress=(n, n), payload={"rows": n})
        return {"done": n}

    done = report(3, options=TaskOptions(task_key="done", task_name="Report 3"))
    with resumable.acting_as("alice"):
        parked = report.schedule(1, options=TaskOptions(task_key="parked"))
    with resumable.acting_as("bob"):
        report.schedule(1, options=TaskOptions(task_key="parked"))

    code, out, _ = _run(capsys, "list", "--database-url", url)
    assert code == 0 and "Report 3" in out and "100% (3/3)" in out and "alice, bob" in out
    assert "ago" in out or "just now" in out  # created, relative to now
    code, out, _ = _run(capsys, "list", "--database-url", url, "--status", "pending", "--json")
    assert code == 0 and [json.loads(line)["uuid"] for line in out.splitlines()] == [parked.uuid]
    code, out, _ = _run(capsys, "list", "--database-url", url, "--user", "carol")
    assert code == 0 and "0 task(s)" in out

    code, out, _ = _run(capsys, "show", "--database-url", url, done.uuid, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["status"] == "success" and shown["payload"] == {"rows": 3}
    assert shown["result"] == {"done": 3}
    code, out, _ = _run(capsys, "show", "--database-url", url, done.uuid)
    assert code == 0 and '{"rows": 3}' in out and '{"done": 3}' in out

    code, out, _ = _run(capsys, "cancel", "--database-url", url, "--user", "bob", parked.uuid)
    assert (code, out.strip()) == (0, "unsubscribed")
    code, _, err = _run(capsys, "cancel", "--database-url", url, "--user", "bob", parked.uuid)
    assert code == 1 and err.startswith("Error: ") and len(err.splitlines()) == 1
    code, out, _ = _run(capsys, "cancel", "--database-url", url, "--user", "alice", parked.uuid)
    assert (code, out.strip()) == (0, "aborted")

    code, _, err = _run(capsys, "prune", "--database-url", url, "--user", "alice")
    assert code == 1 and "admin" in err
    code, out, _ = _run(capsys, "prune", "--database-url", url, "--older-than", "P7D")
    assert (code, out.strip()) == (0, "tasks pruned: 0, expired state keys purged: 0")
    code, out, _ = _run(capsys, "prune", "--database-url", url, "--retention-period-days", "0")
    assert (code, out.strip()) == (0, "tasks pruned: 2, expired state keys purged: 0")
    code, _, err = _run(capsys, "show", "--database-url", url, done.uuid)
    assert code == 1 and "not found" in err


@pytest.mark.slow
def test_watch_follows_a_running_task_until_it_ends(
    configure_tasks: Any, gate: Any, tmp_path: Path
) -> None:
    settings = configure_tasks(progress_throttle=0.0)

    @task
    def export(n: int) -> None:
        ctx = get_context()
        ctx.update_task(progress=(1, n))
        gate.block()
        ctx.update_task(progress=(n, n))

    t = export.schedule(4)
    gate.wait_entered()
    env = {**os.environ, "COLUMNS": "120"}
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from resumable.cli import run; run()",
            "tasks",
            "watch",
            "--database-url",
            settings.database_url,
            "--interval",
            "0.05",
            t.uuid,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    with pytest.raises(subprocess.TimeoutExpired):
        watcher.wait(timeout=1.0)  # still watching: the task has not ended
    gate.release.set()
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert f"task {t.uuid} succeeded" in out


def test_watch_exits_1_when_the_task_failed(
    configure_tasks: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = configure_tasks()

    @task
    def broken() -> None:
        raise RuntimeError("disk full")

    t = broken()
    code, _, err = _run(capsys, "watch", "--database-url", settings.database_url, t.uuid)
    assert code == 1 and "failure" in err and "disk full" in err


def test_admin_needs_user(configure_tasks: Any, capsys: pytest.CaptureFixture[str]) -> None:
    configure_tasks()
    code, _, err = _run(capsys, "list", "--admin")
    assert code == 1 and "--user" in err


def test_short_uuids_and_prefix_lookup(
    configure_tasks: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = configure_tasks(executor="worker").database_url  # tasks stay pending here

    @task(name="cli_prefix_task")
    def parked() -> None:
        pass

    with resumable.acting_as("bob"):
        mine = parked.schedule()
    with resumable.acting_as("carol"):
        hidden = parked.schedule()

    code, out, _ = _run(capsys, "list", "--database-url", url, "--user", "bob")
    assert code == 0
    assert mine.uuid[:8] in out and mine.uuid not in out
    code, out, _ = _run(capsys, "list", "--database-url", url, "--user", "bob", "--full-uuid")
    assert mine.uuid in out

    code, out, _ = _run(capsys, "show", "--database-url", url, "--user", "bob", mine.uuid[:8])
    assert code == 0 and mine.uuid in out
    # carol's task never matches bob's prefix lookups, even by its own prefix
    code, _, err = _run(capsys, "show", "--database-url", url, "--user", "bob", hidden.uuid[:8])
    assert code == 1 and "not found" in err
    # the system sees both: a prefix shared by nothing, and one shared by everything
    code, _, err = _run(capsys, "show", "--database-url", url, "00000000-00")
    assert code == 1 and "not found" in err
    code, _, err = _run(capsys, "show", "--database-url", url, "zzzz")
    assert code == 1 and "'zzzz' is not a task uuid" in err
    code, _, err = _run(capsys, "cancel", "--database-url", url, "")  # every uuid matches
    assert code == 1 and "several tasks" in err
    code, out, _ = _run(capsys, "cancel", "--database-url", url, "--user", "bob", mine.uuid[:8])
    assert (code, out.strip()) == (0, "aborted")


def test_cancel_of_a_running_task_declared_abortable(
    tasks_db: Any, capsys: pytest.CaptureFixture[str], gate: Any
) -> None:
    @task(abortable=True)
    def watching() -> None:
        gate.block()
        get_context().abort_requested.wait(20)

    t = watching.schedule()
    gate.wait_entered()
    url = tasks_db.database_url
    code, out, _ = _run(capsys, "cancel", "--database-url", url, "--force", t.uuid)
    gate.release.set()
    assert (code, out.strip()) == (0, "aborted")
    assert t.wait(timeout=20).status == "aborted"
