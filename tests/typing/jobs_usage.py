"""Type-checked (never run): the jobs API as users write against it (shared/API.md 2)."""

from __future__ import annotations

from typing import Any

import resumable
from resumable.jobs import Action, decide, register_cancel_trigger, register_store_resolver


class SparkJob(resumable.ResumableJobMixin):
    external_id_key = "spark_job_id"

    def submit_job(self, context: Any) -> Any:
        token: str | None = self.idempotency_token(context)
        return f"spark-{token}"

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return "RUNNING"

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        return None

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"rows": 1}

    def find_job(self, token: str, context: Any) -> Any:
        return None

    def cancel_job(self, external_id: Any, context: Any) -> None:
        return None


def standalone() -> object:
    with resumable.open_store("sqlite:///state.db") as store:
        run: resumable.TaskStateStore = store.scope("pipeline", "run-1")
        job = SparkJob(durable=True)
        result: object = resumable.run_job(
            job, store=run, retries=2, retry_delay=0.5, context={"region": "eu"}
        )
        job.execute_resumable({"task_state_store": run, "try_number": 1})
        job.on_kill()
        return result


class RunTimedOut(BaseException):
    """A runner's own timeout (not TimeoutError: socket timeouts must not cancel jobs)."""


def integration() -> None:
    register_store_resolver(lambda context: None)
    register_cancel_trigger(RunTimedOut)
    action: Action = decide(None)
    assert action.submits
