"""An in-test external system (a dict of jobs) and a mixin job that drives it.

The system is real in the sense that matters: it is the thing the mixin must not submit
to twice. Tests script what happens inside ``submit_job`` / ``poll_until_complete``
(the job finishes, fails, the worker "dies") through hooks on :class:`DictJob`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resumable import ResumableJobMixin

POLL_VALUE = "the poll's return value, never the run's result"


class WorkerDied(Exception):
    """Stands for the worker process dying at that point (the try ends abruptly)."""


class JobFailed(Exception):
    """poll_until_complete's report that the external job failed."""


class DictSystem:
    """Jobs by id: status, token, result. Results outlive ``forget``."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.results: dict[str, Any] = {}
        self.submitted_tokens: list[str | None] = []
        self.cancelled: list[str] = []
        self.calls: list[tuple[str, Any]] = []

    @property
    def submissions(self) -> int:
        return len(self.submitted_tokens)

    def submit(self, token: str | None) -> str:
        self.submitted_tokens.append(token)
        job_id = f"job-{len(self.submitted_tokens)}"
        self.jobs[job_id] = {"status": "RUNNING", "token": token}
        return job_id

    def status(self, job_id: str) -> str:
        if job_id not in self.jobs:
            raise LookupError(f"unknown job {job_id}")
        return str(self.jobs[job_id]["status"])

    def finish(self, job_id: str, status: str = "SUCCEEDED") -> None:
        self.jobs[job_id]["status"] = status
        if status == "SUCCEEDED":
            self.results[job_id] = {"rows": 42, "job": job_id}

    def find(self, token: str) -> str | None:
        for job_id, job in self.jobs.items():
            if job["token"] == token:
                return job_id
        return None

    def forget(self, job_id: str) -> None:
        del self.jobs[job_id]

    def count(self, call: str) -> int:
        return sum(1 for name, _ in self.calls if name == call)


Hook = Callable[["DictJob", Any], None]


class DictJob(ResumableJobMixin):
    """A job on a :class:`DictSystem`; ``before_submit``/``after_submit``/``in_poll`` script it."""

    external_id_key = "dict_job_id"

    def __init__(
        self,
        system: DictSystem,
        *,
        after_submit: Hook | None = None,
        before_submit: Hook | None = None,
        in_poll: Hook | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.system = system
        self.before_submit = before_submit
        self.after_submit = after_submit
        self.in_poll = in_poll
        self.tokens_seen: list[str | None] = []
        self.contexts: list[Any] = []

    def submit_job(self, context: Any) -> Any:
        self.contexts.append(context)
        token = self.idempotency_token(context)
        self.tokens_seen.append(token)
        self.system.calls.append(("submit", token))
        if self.before_submit:
            self.before_submit(self, context)
        job_id = self.system.submit(token)
        if self.after_submit:
            self.after_submit(self, job_id)
        return job_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        self.system.calls.append(("status", external_id))
        return self.system.status(external_id)

    def is_job_active(self, status: str) -> bool:
        return status in ("PENDING", "RUNNING")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        self.contexts.append(context)
        self.system.calls.append(("poll", external_id))
        if self.in_poll:
            self.in_poll(self, external_id)
        if self.system.status(external_id) == "RUNNING":
            self.system.finish(external_id)
        if self.system.status(external_id) != "SUCCEEDED":
            raise JobFailed(f"{external_id} ended {self.system.status(external_id)}")
        return POLL_VALUE

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        self.system.calls.append(("result", external_id))
        return self.system.results[external_id]

    def cancel_job(self, external_id: Any, context: Any) -> None:
        self.system.calls.append(("cancel", external_id))
        self.system.cancelled.append(external_id)
        self.system.finish(external_id, "CANCELLED")


class FindableDictJob(DictJob):
    """A DictJob whose system can look jobs up by idempotency token."""

    def find_job(self, token: str, context: Any) -> Any:
        self.system.calls.append(("find", token))
        return self.system.find(token)


def die(*_: Any) -> None:
    """A hook: the worker dies here."""
    raise WorkerDied("worker died")


def finish_then_die(job: DictJob, external_id: Any) -> None:
    """A poll hook: the job finishes, then the worker dies before recording it."""
    job.system.finish(external_id)
    raise WorkerDied("worker died after the job finished")


def fail_job(job: DictJob, external_id: Any) -> None:
    """A poll hook: the external job fails."""
    job.system.finish(external_id, "FAILED")


def once(hook: Hook) -> Hook:
    """``hook`` on its first call only (the first try), a no-op afterwards."""
    calls: list[int] = []

    def wrapped(job: DictJob, value: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            hook(job, value)

    return wrapped
