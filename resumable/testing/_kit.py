"""``check_job``: the standard crash scenarios against any ResumableJobMixin job.

This module runs the scenarios from the test process; ``_child`` is the process each
run of a job happens in (``python -m resumable.testing._child SPEC``), killed for real
where a scenario says so; ``_events`` is the JSON-lines file through which a child tells
the kit what the job did; ``_scenarios`` judges those events; ``_runs`` starts, watches
and kills the children.
"""

from __future__ import annotations

import functools
import math
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resumable._errors import ConfigurationError, JobConformanceError
from resumable.testing._runs import Runner
from resumable.testing._scenarios import SCENARIOS, Scenario

SCENARIO_NAMES = tuple(scenario.name for scenario in SCENARIOS)


@dataclass(frozen=True)
class ScenarioResult:
    """How one scenario went.

    Attributes:
        name: The scenario's name (as in ``check_job(scenarios=...)``).
        title: What it checks, in one line.
        outcome: ``"passed"``, ``"failed"`` or ``"skipped"``.
        problems: Why it failed (empty when it passed).
        runs: One line per process the scenario started: its decision, each call the
            mixin made into the job, and how the process ended.
        log_tail: The last lines of the last process's output (when it failed).
    """

    name: str
    title: str
    outcome: str
    problems: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    log_tail: str = ""

    @property
    def passed(self) -> bool:
        """True unless the scenario failed (a skipped scenario did not fail)."""
        return self.outcome != "failed"


@dataclass(frozen=True)
class ConformanceReport:
    """The outcome of :func:`check_job`, scenario by scenario; ``str()`` reads well."""

    job: str
    results: tuple[ScenarioResult, ...]

    @property
    def passed(self) -> bool:
        """True when no scenario failed."""
        return all(result.passed for result in self.results)

    def __getitem__(self, name: str) -> ScenarioResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def __str__(self) -> str:
        counts = {
            outcome: sum(r.outcome == outcome for r in self.results)
            for outcome in ("passed", "failed", "skipped")
        }
        lines = [
            f"check_job({self.job}): "
            + ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
        ]
        for result in self.results:
            lines.append(f"{result.outcome.upper():8}{result.name}: {result.title}")
            lines.extend(f"        {run}" for run in result.runs)
            lines.extend(f"        PROBLEM: {problem}" for problem in result.problems)
            if result.outcome == "failed" and result.log_tail:
                lines.append("        last lines of its output:")
                lines.extend(f"          | {line}" for line in result.log_tail.splitlines())
        return "\n".join(lines)


def _describe(make_job: Callable[[], Any]) -> str:
    target = make_job.func if isinstance(make_job, functools.partial) else make_job
    return str(getattr(target, "__qualname__", None) or type(target).__name__)


def _pickled(make_job: Any, argument: str) -> bytes:
    if not callable(make_job):
        raise ConfigurationError(f"{argument} must be callable, got {type(make_job).__name__}")
    try:
        return pickle.dumps(make_job)
    except Exception as exc:
        raise ConfigurationError(
            f"{argument} must be picklable (a module-level function, or functools.partial "
            f"of one) so that a fresh process can call it: {exc}"
        ) from exc


def _main_file(payloads: Iterable[bytes]) -> str | None:
    if not any(b"__main__" in payload for payload in payloads):
        return None
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if main_file is None:
        raise ConfigurationError(
            "make_job is defined in an interactive session or `python -c`, which a fresh "
            "process cannot import; define it in a module or a script file (guarding the "
            "check_job call with `if __name__ == '__main__':`)"
        )
    return str(Path(main_file).resolve())


def _chosen(scenarios: Iterable[str] | None, has_failing_job: bool) -> list[Scenario]:
    if scenarios is None:
        return list(SCENARIOS)
    names = [scenarios] if isinstance(scenarios, str) else list(scenarios)
    unknown = sorted(set(names) - set(SCENARIO_NAMES))
    if unknown:
        raise ConfigurationError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIO_NAMES)}"
        )
    chosen = [scenario for scenario in SCENARIOS if scenario.name in names]
    if not has_failing_job and any(s.needs_failing_job for s in chosen):
        raise ConfigurationError("the terminal_failure scenario needs make_failing_job=")
    return chosen


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    import resumable

    merged = {**os.environ, **(env or {})}
    # The child runs `python -m resumable.testing._child` before it reads the
    # parent's sys.path: make sure it finds this very resumable.
    source_root = str(Path(resumable.__file__).resolve().parent.parent)
    merged["PYTHONPATH"] = os.pathsep.join(
        p for p in (source_root, merged.get("PYTHONPATH", "")) if p
    )
    return merged


def check_job(
    make_job: Callable[[], Any],
    *,
    make_failing_job: Callable[[], Any] | None = None,
    scenarios: Iterable[str] | None = None,
    store_url: str | None = None,
    timeout: float = 120.0,
    kill_delay: float = 0.5,
    env: Mapping[str, str] | None = None,
    raise_on_failure: bool = True,
) -> ConformanceReport:
    """Run the standard crash scenarios against a job, each in real subprocesses.

    Every scenario starts fresh Python processes that build the job with ``make_job()``
    and run it with :func:`resumable.run_job` on a store they share, and kills them
    where real workers die:

    - ``kill_while_polling``: SIGKILL while ``poll_until_complete`` runs; the next
      process must reconnect to the same job (decision ``reconnect``), one submission.
    - ``kill_inside_submit``: SIGKILL just after ``submit_job`` returned, before the id
      was saved; the next process must find the job with ``find_job(token)``
      (``recover_by_token``), one submission.
    - ``retry_after_success``: a run after a successful one returns the same result
      calling no method that asks the external system (only ``get_job_result``).
    - ``cancel``: SIGINT (Ctrl-C) while polling; ``cancel_job`` must run once for the
      job, and ``get_job_status`` must then report it inactive.
    - ``terminal_failure`` (with ``make_failing_job``): after a run whose job failed, the
      next run submits a new job with a new token (``terminal_resubmit``).

    Args:
        make_job: Builds the job under test, called in each child process. It must be
            picklable: a module-level function (or ``functools.partial`` of one), or
            defined in the ``__main__`` script that calls ``check_job``. Its job should
            succeed and run for a few seconds (so that it can be killed mid-poll).
        make_failing_job: Builds a job whose external job fails; enables
            ``terminal_failure`` (skipped without it).
        scenarios: Names of the scenarios to run; default all.
        store_url: A store the processes share; default a SQLite file in a temporary
            folder. Each scenario uses a scope of its own.
        timeout: Seconds any one process may take before it is killed and the scenario
            fails.
        kill_delay: Seconds between the poll starting and the kill (or Ctrl-C).
        env: Extra environment variables for the child processes.
        raise_on_failure: Raise when a scenario fails (default); False returns the
            report either way.

    Returns:
        The report. ``str(report)`` shows, per scenario, what each process did.

    Raises:
        JobConformanceError: A scenario failed (an ``AssertionError``: in a test it
            fails the test, its message being the report).
        ConfigurationError: An argument is invalid; nothing was run.
    """
    payloads = {"job": _pickled(make_job, "make_job")}
    if make_failing_job is not None:
        payloads["failing"] = _pickled(make_failing_job, "make_failing_job")
    chosen = _chosen(scenarios, make_failing_job is not None)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if (
        isinstance(kill_delay, bool)
        or not isinstance(kill_delay, (int, float))
        or not math.isfinite(kill_delay)
        or kill_delay < 0
    ):
        raise ConfigurationError(f"kill_delay must be a number of seconds >= 0, got {kill_delay!r}")
    main_file = _main_file(payloads.values())
    child_env = _child_env(env)
    results = []
    with tempfile.TemporaryDirectory(prefix="resumable-check-job-") as folder:
        root = Path(folder)
        factories = {}
        for key, payload in payloads.items():
            factories[key] = root / f"{key}.pickle"
            factories[key].write_bytes(payload)
        url = store_url or f"sqlite:///{root / 'state.db'}"
        for scenario in chosen:
            if scenario.needs_failing_job and make_failing_job is None:
                results.append(
                    ScenarioResult(
                        scenario.name, scenario.title, "skipped", ("no make_failing_job given",)
                    )
                )
                continue
            workdir = root / scenario.name
            workdir.mkdir()
            runner = Runner(
                workdir,
                store_url=url,
                factories=factories,
                main_file=main_file,
                timeout=float(timeout),
                env=child_env,
            )
            problems = scenario.check(runner, float(kill_delay))
            results.append(
                ScenarioResult(
                    scenario.name,
                    scenario.title,
                    "failed" if problems else "passed",
                    tuple(problems),
                    tuple(run.story() for run in runner.runs),
                    runner.runs[-1].log_tail if problems and runner.runs else "",
                )
            )
    report = ConformanceReport(_describe(make_job), tuple(results))
    if raise_on_failure and not report.passed:
        raise JobConformanceError(str(report), report)
    return report
