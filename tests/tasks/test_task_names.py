"""Task names: module-qualified by default, unique per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import resumable
from resumable import task
from resumable.tasks import registered


def test_default_name_is_module_qualified() -> None:
    @task
    def export() -> None: ...

    assert export.name == f"{__name__}.test_default_name_is_module_qualified.<locals>.export"
    assert registered(export.name).fn is export.__wrapped__


def test_a_second_function_cannot_take_a_name() -> None:
    @task(name="tests.names.taken")
    def first() -> None: ...

    with pytest.raises(resumable.ConfigurationError, match="already taken") as caught:

        @task(name="tests.names.taken")
        def second() -> None: ...

    assert "first" in str(caught.value) and "second" in str(caught.value)
    assert registered("tests.names.taken").fn is first.__wrapped__


def test_a_default_name_clashing_with_an_explicit_one_raises() -> None:
    @task
    def report() -> None: ...

    with pytest.raises(resumable.ConfigurationError, match="already taken"):

        @task(name=report.name)
        def other() -> None: ...


def test_the_same_function_defined_again_keeps_its_name() -> None:
    # What a reloaded module (or a test run twice) does: same module, same qualname.
    made = []
    for retries in (0, 2):

        @task(retries=retries)
        def again() -> None: ...

        made.append(again)
    assert made[0].name == made[1].name
    assert registered(made[1].name).retries == 2  # the newest definition wins


def test_one_file_loaded_under_two_module_names_keeps_its_name(tmp_path: Path) -> None:
    # Airflow imports a DAG file as "unusual_prefix_<hash>_<file>" beside a plain import
    # of the same file: one definition, so the explicit name stays its own.
    import importlib.util

    source = tmp_path / "dag_with_a_task.py"
    source.write_text(
        "import resumable\n"
        "@resumable.task(name='tests.names.dag_file_task')\n"
        "def count_pages() -> int:\n"
        "    return 1\n"
    )
    loaded = []
    for module_name in ("dag_with_a_task", "unusual_prefix_0123abcd_dag_with_a_task"):
        spec = importlib.util.spec_from_file_location(module_name, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded.append(module.count_pages)
    assert loaded[0].name == loaded[1].name == "tests.names.dag_file_task"
    assert registered("tests.names.dag_file_task").fn is loaded[1].__wrapped__


def test_another_function_in_the_same_file_still_cannot_take_the_name(tmp_path: Path) -> None:
    import importlib.util

    source = tmp_path / "two_tasks_one_name.py"
    source.write_text(
        "import resumable\n"
        "@resumable.task(name='tests.names.one_per_file')\n"
        "def first() -> None: ...\n"
        "@resumable.task(name='tests.names.one_per_file')\n"
        "def second() -> None: ...\n"
    )
    spec = importlib.util.spec_from_file_location("two_tasks_one_name", source)
    assert spec is not None and spec.loader is not None
    with pytest.raises(resumable.ConfigurationError, match="already taken"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_a_too_long_default_name_asks_for_name() -> None:
    def f() -> None: ...

    f.__qualname__ = "x" * 300
    with pytest.raises(resumable.ConfigurationError, match="name="):
        task(f)


SCRIPT = """
import sys
import resumable
from resumable import task

@task
def export() -> None: ...

print(export.name)
"""


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_script_run_as_main_uses_its_import_name(tmp_path: Path) -> None:
    (tmp_path / "billing.py").write_text(textwrap.dedent(SCRIPT))
    assert _run(["billing.py"], tmp_path) == "billing.export"
    # python -m: the spec's name, as a worker importing the module would see it.
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nightly.py").write_text(textwrap.dedent(SCRIPT))
    assert _run(["-m", "jobs.nightly"], tmp_path) == "jobs.nightly.export"
    # A script that imports itself defines the same function twice: still one name.
    (tmp_path / "selfish.py").write_text(textwrap.dedent(SCRIPT) + "import selfish\n")
    assert _run(["selfish.py"], tmp_path).splitlines() == ["selfish.export"] * 2


def test_code_without_a_file_keeps_main(tmp_path: Path) -> None:
    assert _run(["-c", textwrap.dedent(SCRIPT)], tmp_path) == "__main__.export"


def test_looking_up_a_bare_name_hints_at_name() -> None:
    with pytest.raises(resumable.ConfigurationError, match=r"@task\(name='export'\)"):
        registered("export")
    with pytest.raises(resumable.ConfigurationError) as caught:
        registered("billing.nowhere")
    assert "bare name" not in str(caught.value)
