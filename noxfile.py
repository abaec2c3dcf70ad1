"""Task runner: `nox -s tests`, `lint`, `typecheck`, `bench`."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "pytest-timeout>=2.2",
    "hypothesis>=6.100",
    "opentelemetry-sdk>=1.20",  # reads back the jobs metrics and spans in tests
]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite over memory, SQLite, PostgreSQL and Redis."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.6")
    paths = [
        p
        for p in ("resumable", "tests", "benchmarks", "providers", "noxfile.py")
        if Path(p).exists()
    ]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on resumable/ and the typing examples in tests/typing/."""
    session.install("-e", ".[all]", "mypy>=1.10", "types-redis", *TEST_DEPS)
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios against raw-driver baselines measured in the same run."""
    session.install("-e", ".[all]")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session(python=PYTHON, name="tests-sqlalchemy14")
def tests_sqlalchemy14(session: nox.Session) -> None:
    """The store, CLI and docs suites on SQLAlchemy 1.4 + psycopg2 (as Airflow 2.x installs)."""
    session.install("-e", ".[redis]", "sqlalchemy>=1.4.36,<2", "psycopg2-binary", *TEST_DEPS)
    default = ["-q", "tests/store", "tests/cli/test_store_cli.py", "tests/docs"]
    session.run("pytest", *(session.posargs or default))
