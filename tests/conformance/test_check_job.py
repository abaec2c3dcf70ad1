"""resumable.testing.check_job: the crash scenarios, against jobs that pass and that fail."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import resumable
from resumable.testing import SCENARIO_NAMES, JobConformanceError, check_job
from tests.conformance.clock_jobs import ClockJobs, make_job


@pytest.mark.slow
def test_a_well_behaved_job_passes_every_scenario(tmp_path: Path) -> None:
    report = check_job(
        functools.partial(make_job, str(tmp_path)),
        make_failing_job=functools.partial(make_job, str(tmp_path), fail=True, seconds=0.2),
    )
    assert report.passed
    assert [r.outcome for r in report.results] == ["passed"] * len(SCENARIO_NAMES)
    assert str(report).startswith("check_job(make_job): 5 passed, 0 failed, 0 skipped")
    # Every scenario ran real processes; the kill scenarios left exactly one job each.
    assert "killed with SIGKILL" in report["kill_while_polling"].runs[0]
    assert "died of SIGKILL" in report["kill_inside_submit"].runs[0]
    assert len(ClockJobs(tmp_path).submissions()) == 1 + 1 + 1 + 1 + 2


@pytest.mark.slow
def test_a_job_without_find_job_or_cancel_fails_with_a_readable_report(tmp_path: Path) -> None:
    sloppy = functools.partial(make_job, str(tmp_path), can_find=False, can_cancel=False)
    with pytest.raises(JobConformanceError) as raised:
        check_job(sloppy, scenarios=["kill_inside_submit", "cancel"])
    report = raised.value.report
    assert isinstance(raised.value, AssertionError)
    assert not report.passed
    assert report["kill_inside_submit"].problems == (
        "the retry decided 'resubmit_with_same_token', expected 'recover_by_token'",
        "the retry called submit_job again: 2 submissions, not 1",
        report["kill_inside_submit"].problems[2],
    )
    assert (
        "returned None, not the job submit_job returned" in report["kill_inside_submit"].problems[2]
    )
    assert report["cancel"].problems == (
        "the job ran on to success ('SUCCEEDED') after cancel_job",
    )
    message = str(raised.value)
    assert message.startswith("check_job(make_job): 0 passed, 2 failed, 0 skipped")
    assert "FAILED  kill_inside_submit" in message and "PROBLEM: " in message


def test_terminal_failure_is_skipped_without_a_failing_job(tmp_path: Path) -> None:
    report = check_job(functools.partial(make_job, str(tmp_path)), scenarios=[])
    assert report.results == ()
    with pytest.raises(resumable.ConfigurationError, match="needs make_failing_job"):
        check_job(functools.partial(make_job, str(tmp_path)), scenarios=["terminal_failure"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"make_job": lambda: None}, "must be picklable"),
        ({"make_job": 42}, "must be callable"),
        ({"scenarios": ["kill_everything"]}, "unknown scenario"),
        ({"timeout": 0}, "timeout must be"),
        ({"kill_delay": -1}, "kill_delay must be"),
    ],
)
def test_bad_arguments_raise_before_anything_runs(
    tmp_path: Path,
    kwargs: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    arguments = {"make_job": functools.partial(make_job, str(tmp_path)), **kwargs}
    with pytest.raises(resumable.ConfigurationError, match=message):
        check_job(**arguments)
    assert not (tmp_path / "jobs").exists() or not ClockJobs(tmp_path).submissions()


@pytest.mark.slow
def test_a_factory_defined_in_a_main_script_works(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parents[2])!r})
            from tests.conformance.clock_jobs import ClockJob
            from resumable.testing import check_job

            def make():
                return ClockJob({str(tmp_path)!r}, seconds=0.1)

            if __name__ == "__main__":
                print(check_job(make, scenarios=["retry_after_success"]))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("check_job(make): 1 passed, 0 failed, 0 skipped")


def test_a_factory_from_python_c_is_refused() -> None:
    code = (
        "from resumable.testing import check_job\n"
        "def make(): pass\n"
        "try:\n    check_job(make)\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.startswith("ConfigurationError make_job is defined in an interactive")
