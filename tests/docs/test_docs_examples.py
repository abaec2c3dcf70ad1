"""Every ```python block in docs/*.md and the README runs, as written, with no server.

A block whose first line is ``# not run: <reason>`` is only compiled (it needs a server,
Airflow, or a long-running worker); everything else is executed in a fresh directory,
twice in a row: a reader runs an example again (after a fix, to see it once more), and
an example that only works on an empty directory teaches code that breaks on the
second deploy.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in [*sorted(DOCS.glob("*.md")), DOCS.parent / "README.md"]:
        for index, code in enumerate(_BLOCK.findall(page.read_text())):
            found.append((f"{page.name}#{index + 1}", code))
    return found


BLOCKS = _blocks()

# Pages whose examples need an extra (sessions such as tests-sqlalchemy14 install only
# `.[redis]`): they run wherever the extra is installed, as in `nox -s tests`.
NEEDS_EXTRA = {"api.md": ("api", "fastapi"), "celery.md": ("celery", "celery")}


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_docs_example_runs(where: str, code: str, tmp_path: Path) -> None:
    extra = NEEDS_EXTRA.get(where.split("#", maxsplit=1)[0])
    if extra and importlib.util.find_spec(extra[1]) is None:
        pytest.skip(f"needs the '{extra[0]}' extra ({extra[1]} is not installed here)")
    if code.startswith("# not run:"):
        reason = code.split("\n", 1)[0].removeprefix("# not run:").strip()
        assert len(reason) > 10, f"{where}: say why it cannot run here ('# not run: needs …')"
        compile(code, where, "exec")
        return
    # A reader's shell has none of resumable's settings: the examples set what they use.
    # The embedded default lands in the user data folder, here one inside tmp_path (never
    # the developer's real one).
    env = {name: value for name, value in os.environ.items() if not name.startswith("RESUMABLE_")}
    env.update(HOME=str(tmp_path / "user"), XDG_DATA_HOME=str(tmp_path / "user" / "data"))
    # Run from a file, not `python -c`: an example may hand a job factory defined in it
    # to resumable.testing.check_job, whose fresh processes import the script by path.
    script = tmp_path / "example.py"
    script.write_text(code)
    for run in ("first", "second"):
        result = subprocess.run(
            [sys.executable, str(script)],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (
            f"{where} failed on its {run} run in {tmp_path}:\n{result.stdout}\n{result.stderr}"
        )
