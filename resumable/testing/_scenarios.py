"""The standard crash scenarios: each drives real child processes and lists its problems.

A scenario returns the problems it found (empty: passed). What the children did is kept
by the :class:`~resumable.testing._runs.Runner` and printed in the report.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resumable.testing._runs import Run, Runner, short

# Methods that ask (or change) the external system; get_job_result may read a result
# the system keeps, but a retry after success must call none of these.
_ASKING = ("submit_job", "get_job_status", "poll_until_complete", "find_job", "cancel_job")


@dataclass(frozen=True)
class Scenario:
    """One standard scenario: its name (for ``scenarios=``), title, and check."""

    name: str
    title: str
    check: Callable[[Runner, float], list[str]]
    needs_failing_job: bool = False


def _is_polling(event: dict[str, Any]) -> bool:
    return bool(event["kind"] == "call" and event["method"] == "poll_until_complete")


def _is_ready(event: dict[str, Any]) -> bool:
    return bool(event["kind"] == "ready")


def _decision(run: Run, expected: str) -> list[str]:
    if run.decision == expected:
        return []
    return [f"the {run.label} decided {run.decision!r}, expected {expected!r}"]


def _no_resubmit(run: Run, before: int) -> list[str]:
    extra = len(run.calls("submit_job"))
    if not extra:
        return []
    return [f"the {run.label} called submit_job again: {before + extra} submissions, not 1"]


def _has_result(run: Run) -> list[str]:
    return [] if run.has_result else [f"the {run.label} returned no result ({run.ending})"]


def _one_submission(run: Run) -> tuple[list[str], Any]:
    submitted = run.returned("submit_job")
    if len(submitted) != 1:
        return [f"the {run.label} did not submit exactly one job ({run.ending})"], None
    return [], submitted[0]


def kill_while_polling(runner: Runner, kill_delay: float) -> list[str]:
    """SIGKILL the first run while it polls; a new process must reconnect."""
    first, process = runner.start("first run")
    # The retry starts now and waits, imports done, so that it asks for the status the
    # moment the first run is dead: a slow start must not let the job finish meanwhile.
    go = runner.folder / "go"
    retry, retry_process = runner.start("retry", go_file=str(go))
    if not runner.wait_for(retry, retry_process, _is_ready):
        return [f"the retry process did not start ({retry.ending})"]
    if not runner.wait_for(first, process, _is_polling):
        runner.kill(retry, retry_process, why="not needed")
        return [f"the first run never reached poll_until_complete ({first.ending})"]
    time.sleep(kill_delay)
    if not runner.kill(first, process):
        runner.kill(retry, retry_process, why="not needed")
        return [
            f"the first run ended ({first.ending}) before it could be killed while polling: "
            "make_job's job must run for a few seconds at least"
        ]
    go.touch()
    runner.wait(retry, retry_process)
    problems, job_id = _one_submission(first)
    if problems:
        return problems
    problems = _decision(retry, "reconnect") + _no_resubmit(retry, 1)
    polled = [call["subject"] for call in retry.calls("poll_until_complete")]
    if polled != [job_id]:
        problems.append(f"the retry polled {short(polled)}, not the submitted job {short(job_id)}")
    return problems + _has_result(retry)


def kill_inside_submit(runner: Runner, kill_delay: float) -> list[str]:
    """SIGKILL right after submit_job returned, before the id is saved: find_job recovers."""
    first = runner.run("first run", mode="die_after_submit")
    problems, job_id = _one_submission(first)
    if problems:
        return problems
    token = first.calls("submit_job")[0]["token"]
    retry = runner.run("retry")
    problems = _decision(retry, "recover_by_token") + _no_resubmit(retry, 1)
    asked = [call["subject"] for call in retry.calls("find_job")]
    found = retry.returned("find_job")
    if asked != [token]:
        problems.append(f"find_job was asked for {short(asked)}, not the token {token!r}")
    elif found != [job_id]:
        problems.append(
            f"find_job({token!r}) returned {short(found[0] if found else None)}, "
            f"not the job submit_job returned ({short(job_id)})"
        )
    return problems + _has_result(retry)


def retry_after_success(runner: Runner, kill_delay: float) -> list[str]:
    """A retry after success returns the same result without asking the external system."""
    first = runner.run("first run")
    if not first.has_result:
        return [f"the first run did not succeed ({first.ending})"]
    retry = runner.run("retry")
    problems = _decision(retry, "already_succeeded")
    asked = [method for method in _ASKING if retry.calls(method)]
    if asked:
        problems.append(f"the retry asked the external system: {', '.join(asked)}")
    if retry.has_result and retry.result != first.result:
        problems.append(
            f"the retry returned {short(retry.result)}, the first run {short(first.result)}"
        )
    return problems + _has_result(retry)


def cancel(runner: Runner, kill_delay: float) -> list[str]:
    """Ctrl-C (SIGINT) while polling: cancel_job runs once, and the job stops."""
    run, process = runner.start("run")
    if not runner.wait_for(run, process, _is_polling):
        return [f"the run never reached poll_until_complete ({run.ending})"]
    time.sleep(kill_delay)
    if not runner.kill(run, process, sig=signal.SIGINT):
        return [f"the run ended ({run.ending}) before it could be interrupted while polling"]
    runner.wait(run, process)
    problems, job_id = _one_submission(run)
    if problems:
        return problems
    cancels = [call["subject"] for call in run.calls("cancel_job")]
    if cancels != [job_id]:
        return [f"cancel_job ran for {short(cancels)}, expected once for {short(job_id)}"]
    problems = [
        f"cancel_job raised {short(e['error'])}"
        for e in run.events
        if e["kind"] == "raise" and e["method"] == "cancel_job"
    ]
    check = runner.run("status check", mode="status", external_id=job_id)
    statuses = [e for e in check.events if e["kind"] == "status"]
    if check.returncode != 0 or not statuses:
        problems.append(f"the status check after cancel_job failed ({check.ending})")
    elif statuses[-1]["succeeded"]:
        problems.append(
            f"the job ran on to success ({short(statuses[-1]['value'])}) after cancel_job"
        )
    return problems


def terminal_failure(runner: Runner, kill_delay: float) -> list[str]:
    """A job that failed is submitted afresh (new token) by the next run."""
    first = runner.run("first run", factory="failing")
    if first.has_result:
        return ["make_failing_job's job succeeded; it must fail"]
    problems, failed_id = _one_submission(first)
    if problems:
        return problems
    rerun = runner.run("next run", factory="failing")
    problems = _decision(rerun, "terminal_resubmit")
    submitted = rerun.returned("submit_job")
    if len(submitted) != 1:
        return [*problems, f"the next run submitted {len(submitted)} jobs, expected 1"]
    if submitted[0] == failed_id:
        problems.append(f"the fresh submission returned the failed job's id {short(failed_id)}")
    old_token = first.calls("submit_job")[0]["token"]
    if rerun.calls("submit_job")[0]["token"] == old_token:
        problems.append("the fresh submission reused the failed job's idempotency token")
    return problems


SCENARIOS = (
    Scenario(
        "kill_while_polling",
        "SIGKILL while polling -> reconnect, one submission",
        kill_while_polling,
    ),
    Scenario(
        "kill_inside_submit",
        "SIGKILL inside submit_job -> find_job, one submission",
        kill_inside_submit,
    ),
    Scenario(
        "retry_after_success",
        "retry after success -> result without asking the system",
        retry_after_success,
    ),
    Scenario("cancel", "cancel (Ctrl-C while polling) -> cancel_job once, job stopped", cancel),
    Scenario(
        "terminal_failure",
        "terminal failure -> fresh submission on the next run",
        terminal_failure,
        needs_failing_job=True,
    ),
)
