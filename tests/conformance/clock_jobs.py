"""A file-backed external system whose jobs finish at a set time, and jobs that use it.

The kit's own tests run these in its child processes, so everything lives in files
under ``root``: ``jobs/<id>.json`` per job and ``submissions.jsonl``, one line per job
ever accepted.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from resumable import ResumableJobMixin


class ClockJobs:
    """Jobs are files; a job runs until its ``finish_at`` time, then succeeds or fails."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)

    def _path(self, job_id: str) -> Path:
        return self.root / "jobs" / f"{job_id}.json"

    def _write(self, job_id: str, job: dict[str, Any]) -> None:
        temporary = self._path(job_id).with_suffix(".tmp")
        temporary.write_text(json.dumps(job))
        os.replace(temporary, self._path(job_id))

    def submit(self, token: str | None, seconds: float, fail: bool) -> str:
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        job = {"token": token, "finish_at": time.time() + seconds, "fail": fail, "cancelled": False}
        self._write(job_id, job)
        with (self.root / "submissions.jsonl").open("a") as ledger:
            ledger.write(json.dumps({"id": job_id, "token": token}) + "\n")
        return job_id

    def submissions(self) -> list[dict[str, Any]]:
        ledger = self.root / "submissions.jsonl"
        return (
            [json.loads(line) for line in ledger.read_text().splitlines()]
            if ledger.exists()
            else []
        )

    def status(self, job_id: str) -> str:
        job = json.loads(self._path(job_id).read_text())
        if job["cancelled"]:
            return "CANCELLED"
        if time.time() < job["finish_at"]:
            return "RUNNING"
        return "FAILED" if job["fail"] else "SUCCEEDED"

    def find(self, token: str) -> str | None:
        for path in (self.root / "jobs").glob("*.json"):
            if json.loads(path.read_text())["token"] == token:
                return path.stem
        return None

    def cancel(self, job_id: str) -> None:
        self._write(job_id, {**json.loads(self._path(job_id).read_text()), "cancelled": True})


class ClockJob(ResumableJobMixin):
    """A well-behaved job on :class:`ClockJobs`; flags switch its good habits off."""

    external_id_key = "clock_job_id"

    def __init__(
        self,
        root: Path,
        *,
        seconds: float = 5.0,
        fail: bool = False,
        can_find: bool = True,
        can_cancel: bool = True,
    ) -> None:
        super().__init__()
        self.system = ClockJobs(root)
        self.seconds, self.fail = seconds, fail
        self.can_find, self.can_cancel = can_find, can_cancel

    def submit_job(self, context: Any) -> Any:
        return self.system.submit(self.idempotency_token(context), self.seconds, self.fail)

    def find_job(self, token: str, context: Any) -> Any:
        return self.system.find(token) if self.can_find else None

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.system.status(external_id)

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        while (status := self.system.status(external_id)) == "RUNNING":
            time.sleep(0.05)
        if status != "SUCCEEDED":
            raise RuntimeError(f"job {external_id} ended {status}")

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"job": external_id}

    def cancel_job(self, external_id: Any, context: Any) -> None:
        if self.can_cancel:
            self.system.cancel(external_id)


def make_job(root: str, **options: Any) -> ClockJob:
    """The factory ``check_job`` calls in each child (bind ``root`` with partial)."""
    return ClockJob(Path(root), **options)
