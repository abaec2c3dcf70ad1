"""One set of prune names: ``prune_tasks(retention_period_days=, max_rows_per_run=)``.

``resumable tasks prune`` and ``resumable worker`` take ``--retention-period-days N``,
``--max-rows-per-run N`` and ``--older-than D``; the old spellings still work for one
release with a deprecation line on stderr. Every command is a real ``resumable`` process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import resumable
from resumable import _config, task
from resumable.tasks import _services

pytestmark = pytest.mark.slow

_BESIDE = Path(sys.executable).with_name("resumable")
RESUMABLE = str(_BESIDE) if _BESIDE.exists() else shutil.which("resumable") or "resumable"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESUMABLE_")}
    return subprocess.run(
        [RESUMABLE, *args], check=False, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def three_finished_tasks(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    resumable.configure(database_url=url, executor="inline")
    try:

        @task(name=f"prune-names-{tmp_path.name}")
        def ping() -> None: ...

        for _ in range(3):
            ping()
    finally:
        _services.shutdown(wait=True)
        _config.reset()
    return url


def test_the_api_words_on_the_command_line(three_finished_tasks: str) -> None:
    url = three_finished_tasks
    kept = run("tasks", "prune", "--database-url", url, "--retention-period-days", "1")
    assert (kept.returncode, kept.stderr) == (0, "")
    assert kept.stdout.strip() == "tasks pruned: 0, expired state keys purged: 0"
    one = run(
        "tasks", "prune", "--database-url", url, "--retention-period-days", "0",
        "--max-rows-per-run", "1",
    )  # fmt: skip
    assert (one.returncode, one.stderr) == (0, "")
    assert one.stdout.startswith("tasks pruned: 1,")
    rest = run("tasks", "prune", "--database-url", url, "--older-than", "0")
    assert (rest.returncode, rest.stderr, rest.stdout.split(",")[0]) == (0, "", "tasks pruned: 2")


def test_old_spellings_still_work_with_a_deprecation_line(three_finished_tasks: str) -> None:
    url = three_finished_tasks
    old = run(
        "tasks", "prune", "--database-url", url, "--retention-days", "0", "--max-rows", "2"
    )  # fmt: skip
    assert old.returncode == 0, old.stderr
    assert old.stdout.startswith("tasks pruned: 2,")
    lines = old.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Deprecated: --retention-days is renamed --retention-period-days")
    assert lines[1].startswith("Deprecated: --max-rows is renamed --max-rows-per-run")
    assert "Traceback" not in old.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--older-than", "1d", "--retention-period-days", "1"], "not both"),
        (["--retention-period-days", "1", "--retention-days", "1"], "not both"),
        (["--max-rows-per-run", "5", "--max-rows", "5"], "not both"),
        (["--max-rows-per-run", "0"], "--max-rows-per-run"),
        (["--retention-period-days", "-1"], "--retention-period-days"),
        (["--retention", "1d"], "No such option"),  # the worker's old spelling only
    ],
)
def test_prune_usage_errors(args: list[str], expected: str, tmp_path: Path) -> None:
    result = run("tasks", "prune", "--database-url", f"sqlite:///{tmp_path / 't.db'}", *args)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0]


def test_worker_takes_the_same_words() -> None:
    shown = run("worker", "--help")
    assert shown.returncode == 0
    for option in ("--older-than D", "--retention-period-days N", "--max-rows-per-run N"):
        assert option in shown.stdout
    for old in ("--retention ", "--retention-days", "--max-rows "):
        assert old not in shown.stdout  # hidden, still accepted
    for args, expected in [
        (["--retention", "1d", "--older-than", "1d"], "not both"),
        (["--retention-days", "1", "--retention-period-days", "1"], "not both"),
        (["--retention", "soon"], "Invalid value for '--retention': 'soon'"),
        (["--max-rows-per-run", "0"], "--max-rows-per-run"),
    ]:
        result = run("worker", "--import", "json", *args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr
