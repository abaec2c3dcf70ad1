"""Task runner: `nox -s tests`, `lint`, `typecheck`, `bench`."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
# uv builds a venv in seconds where pip takes minutes (each Airflow venv: about five
# minutes through pip); virtualenv when uv is not installed.
nox.options.default_venv_backend = "uv|virtualenv"

PYTHON = "3.11"
DEV_CONSTRAINTS = Path("constraints/dev.txt")
"""What lint and typecheck install, pinned (the library's own ranges stay wide)."""

TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "pytest-timeout>=2.2",
    "hypothesis>=6.100",
    "opentelemetry-sdk>=1.20",  # reads back the jobs metrics and spans in tests
    "httpx>=0.24",  # the REST API tests talk to a real uvicorn server
    "pytest-xdist>=3.5",  # the sessions below run their tests on several workers
]

# pytest-xdist workers. Most of `nox -s tests` waits on servers, subprocesses and
# timers, not on the CPU: two workers per core (at most eight). The sessions of real
# worker processes, the command line and the docs examples keep the cores busy: one per
# core. `--dist loadgroup`: the tests of one `xdist_group` mark go to one worker, which
# runs them in turn (for tests that must not run beside each other).
# The cores this process may run on (a container's share), not the host's count.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
PARALLEL_WAITING = ["-n", str(min(2 * CORES, 8)), "--dist", "loadgroup"]
PARALLEL_BUSY = ["-n", str(CORES), "--dist", "loadgroup"]

# Real Celery workers and real `resumable worker` processes are slow to start: their
# tests have sessions of their own, so `nox -s tests` stays well under ten minutes.
NOT_CELERY = ["--ignore=tests/celery"]
NOT_WORKERS = ["--ignore=tests/workers"]
# Every docs example runs twice in a fresh directory, some in subprocesses with real
# workers: about three minutes of their own, so they have their own session too.
NOT_DOCS = ["--ignore=tests/docs"]
# The command line is tested through the real `resumable` entry point, a process per
# call (about two and a half minutes): a session of its own as well.
NOT_CLI = ["--ignore=tests/cli"]
# What `nox -s tests` leaves to the sessions above.
APART = [*NOT_CELERY, *NOT_WORKERS, *NOT_DOCS, *NOT_CLI]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite over memory, SQLite, PostgreSQL and Redis (workers, Celery, the
    command line and the docs examples have sessions of their own)."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q", *PARALLEL_WAITING, *APART]))


@nox.session(python=PYTHON)
def workers(session: nox.Session) -> None:
    """Real `resumable worker` processes: leases, SIGKILL recovery, push aborts, the pool."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q", *PARALLEL_BUSY, "tests/workers"]))


@nox.session(python=PYTHON)
def cli(session: nox.Session) -> None:
    """The `resumable` command through its real entry point: every subcommand, bad input."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q", *PARALLEL_BUSY, "tests/cli"]))


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Every code example in docs/ and the README, run twice each in a fresh directory."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q", *PARALLEL_BUSY, "tests/docs"]))


@nox.session(python=PYTHON)
def celery(session: nox.Session) -> None:
    """Real Celery workers (prefork) on Redis and RabbitMQ, over SQLite and PostgreSQL."""
    session.install("-e", ".[all]", *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q", "tests/celery"]))


PROVIDERS = ("shell", "http", "celery")


@nox.session(python=PYTHON)
def providers(session: nox.Session) -> None:
    """The provider distributions (providers/<name>/), each through check_job and more."""
    session.install(
        "-e", ".[redis,celery]", *(f"-e./providers/{name}" for name in PROVIDERS), *TEST_DEPS
    )
    tests = [f"providers/{name}/tests" for name in PROVIDERS]
    session.run("pytest", *(session.posargs or ["-q", *tests]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("-c", str(DEV_CONSTRAINTS), "ruff>=0.6")
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
    # The providers' own dependencies (httpx, stamina), so their code is checked too.
    session.install(
        "-c",
        str(DEV_CONSTRAINTS),
        "-e",
        ".[all]",
        *(f"-e./providers/{name}" for name in PROVIDERS),
        "mypy>=1.10",
        "types-redis",
        *TEST_DEPS,
    )
    session.run("mypy")
    # The providers' sources: namespace packages under providers/<name>/src.
    session.run(
        "mypy",
        "--explicit-package-bases",
        *(f"--package=resumable_providers.{name}" for name in PROVIDERS),
        env={"MYPYPATH": os.pathsep.join(f"providers/{name}/src" for name in PROVIDERS)},
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios against raw-driver baselines measured in the same run.

    ``nox -s bench`` runs every ``benchmarks/bench_*.py``; ``nox -s bench -- store tasks``
    runs only those. Each script takes its own flags when run directly
    (``python benchmarks/bench_workers.py --quick``).
    """
    session.install("-e", ".[all]")
    scripts = sorted(Path("benchmarks").glob("bench_*.py"))
    if session.posargs:
        unknown = set(session.posargs) - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            session.error(f"no benchmark named {', '.join(sorted(unknown))}")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in session.posargs]
    for script in scripts:
        session.run("python", str(script))


@nox.session(python=PYTHON)
def api(session: nox.Session) -> None:
    """The task page in real headless Chromium and schemathesis against the served schema.

    Chromium is Debian's package (``apt-get install chromium``; .ci/run installs it when
    missing), driven by Playwright through its executable path: nothing is downloaded.
    """
    session.install("-e", ".[all]", *TEST_DEPS, "playwright>=1.40", "schemathesis>=4")
    session.run(
        "pytest",
        *(session.posargs or ["-q", *API_SLOW_TESTS]),
        env={
            "RESUMABLE_TEST_BROWSER": "1",
            "RESUMABLE_TEST_SCHEMA": "1",
            "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        },
    )


API_SLOW_TESTS = ["tests/api/test_api_page_browser.py", "tests/api/test_api_schema.py"]


SQLALCHEMY14_TESTS = [
    "tests/store",
    "tests/tasks",
    "tests/migrations",
    "tests/coordination",
    "tests/jobs",
    "tests/test_time.py",
    "tests/test_exported_members.py",
]


@nox.session(python=PYTHON, name="tests-sqlalchemy14")
def tests_sqlalchemy14(session: nox.Session) -> None:
    """The database-facing suites on SQLAlchemy 1.4 + psycopg2 + pendulum 2, as Airflow
    2.x installs them (LISTEN/NOTIFY needs psycopg 3, so its tests skip and PostgreSQL
    signals poll). The default session has pendulum 3, so both majors are tested.

    Only the folders whose code talks to SQLAlchemy, the drivers or pendulum run here:
    the command line, the docs examples and real worker processes go through the same
    store and task code these cover, and rerunning them took a quarter of CI's time."""
    session.install(
        "-e",
        ".[redis]",
        "sqlalchemy>=1.4.36,<2",
        "psycopg2-binary",
        "pendulum>=2.1.2,<3",
        *TEST_DEPS,
    )
    session.run("pytest", *(session.posargs or ["-q", *PARALLEL_BUSY, *SQLALCHEMY14_TESTS]))


# Airflow sessions (not in the defaults: .ci/run calls them after the default sessions).
# Each installs one Airflow line beside resumable from the committed constraints file of
# that line (constraints/airflow-<line>.txt: every distribution pinned, as Airflow's own
# constraints files do), requires a clean `pip check` (uv's in a uv venv), migrates a
# SQLite metadata DB in a temporary AIRFLOW_HOME and runs real DAG runs (tests/airflow).
#
# `nox -s airflow-constraints` regenerates the files: per line it resolves afresh from
# AIRFLOW_LINES alone, runs that line's tests, and writes the file only when they pass.
# The pins below steer that resolution away from releases known to break a line:
# - 3.2: Airflow 3.2.2's API server fails to start with the newer fastapi/cadwyn pip
#   would pick, and svcs 26.2.0 breaks its in-process execution API (a plain
#   `dag.test()` fails with "'State' object has no attribute 'svcs_registry'").
AIRFLOW_LINES = {
    "2.11": ["apache-airflow==2.11.2"],
    "3.2": [
        "apache-airflow==3.2.2",
        "fastapi[standard-no-fastapi-cloud-cli]==0.136.3",
        "cadwyn==7.0.0",
        "svcs<26.2",
    ],
    "3.3": ["apache-airflow==3.3.2"],
}
# How resumable itself is installed per line: Airflow 3 users take the `airflow` extra
# (the task SDK); beside Airflow 2 it stays out, since the task SDK needs Airflow 3.
AIRFLOW_RESUMABLE = {"2.11": ".", "3.2": ".[airflow]", "3.3": ".[airflow]"}
AIRFLOW_TESTS = [
    "tests/airflow",
    "tests/jobs/test_job_airflow_operator.py",
    "tests/jobs/test_job_airflow_parity.py",
]
CONSTRAINTS_DIR = Path("constraints")


# Provider distributions the Airflow sessions install beside resumable (their tests run
# in tests/airflow); their own dependencies come from the same constraints file.
AIRFLOW_PROVIDERS = ["shell", "http", "celery[redis]"]


def airflow_install_args(line: str) -> list[str]:
    """What an Airflow session installs (append here to add more)."""
    providers = [arg for name in AIRFLOW_PROVIDERS for arg in ("-e", f"./providers/{name}")]
    return [*AIRFLOW_LINES[line], "-e", AIRFLOW_RESUMABLE[line], *providers, *TEST_DEPS]


def constraints_file(line: str) -> Path:
    return CONSTRAINTS_DIR / f"airflow-{line}.txt"


def _pip(session: nox.Session, *args: str, silent: bool = False) -> str | bool | None:
    """``pip <args>`` in the session's venv: a venv built by uv has no pip, but uv's own."""
    if session.venv_backend == "uv":
        return session.run("uv", "pip", *args, silent=silent)
    return session.run("python", "-m", "pip", *args, silent=silent)


def _run_airflow_tests(session: nox.Session, line: str, args: list[str]) -> None:
    import tempfile

    _pip(session, "check")
    with tempfile.TemporaryDirectory(prefix=f"airflow-{line}-home-") as home:
        env = {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Airflow 2.11 warns at import unless this is set; pytest makes it an error.
            "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",
        }
        session.run("airflow", "db", "migrate", env=env, silent=True)
        session.run("pytest", *args, env=env)


def _airflow_session(line: str) -> None:
    def run(session: nox.Session) -> None:
        constraints = constraints_file(line)
        if not constraints.exists():
            session.error(f"{constraints} is missing: run `nox -s airflow-constraints`")
        session.install("-c", str(constraints), *airflow_install_args(line))
        _run_airflow_tests(session, line, session.posargs or ["-q", *AIRFLOW_TESTS])

    run.__doc__ = f"Real DAG runs on Airflow {line}, installed from {constraints_file(line)}."
    nox.session(python=PYTHON, name=f"airflow-{line}")(run)


for _line in AIRFLOW_LINES:
    _airflow_session(_line)


@nox.session(python=PYTHON, name="airflow-constraints", reuse_venv=False)
@nox.parametrize("line", list(AIRFLOW_LINES))
def airflow_constraints(session: nox.Session, line: str) -> None:
    """Regenerate constraints/airflow-<line>.txt from a fresh resolution that passes.

    ``nox -s airflow-constraints`` does every line; ``nox -s "airflow-constraints(line='3.2')"``
    one. The file is written only after the line's tests pass on the new resolution.
    """
    import datetime

    session.install(*airflow_install_args(line))
    _run_airflow_tests(session, line, ["-q", *AIRFLOW_TESTS])
    frozen = _pip(session, "freeze", "--exclude-editable", silent=True)
    path = write_constraints(line, str(frozen), datetime.date.today().isoformat())
    session.log(f"wrote {path}")


def write_constraints(line: str, frozen: str, day: str) -> Path:
    """Write the ``pip freeze`` output of a passing environment as the line's constraints."""
    pins = sorted((entry for entry in frozen.splitlines() if "==" in entry), key=str.lower)
    header = [
        f"# Constraints of the airflow-{line} nox session: a resolution on which its tests",
        f"# passed ({day}, Python {PYTHON}). Regenerate with `nox -s airflow-constraints`;",
        "# do not edit by hand.",
    ]
    CONSTRAINTS_DIR.mkdir(exist_ok=True)
    path = constraints_file(line)
    path.write_text("\n".join([*header, *pins]) + "\n", encoding="utf-8")
    return path
