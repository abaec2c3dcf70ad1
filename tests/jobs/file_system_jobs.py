"""A file-backed external system shared by processes, and a job that runs on it.

Layout under ``root``: ``submissions.jsonl`` (one line per accepted job: the thing that
must stay at one line), ``jobs/<id>.json`` (status and token), ``polling-<pid>`` (written
by a worker while it polls), ``release`` (created by the test: running jobs may finish).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from resumable import ResumableJobMixin


class FileSystemJobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "jobs").mkdir(parents=True, exist_ok=True)

    def _write(self, path: Path, value: Any) -> None:
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(value))
        os.replace(temporary, path)

    def submit(self, token: str | None) -> str:
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        self._write(self.root / "jobs" / f"{job_id}.json", {"status": "RUNNING", "token": token})
        with (self.root / "submissions.jsonl").open("a") as ledger:
            ledger.write(json.dumps({"id": job_id, "token": token}) + "\n")
        return job_id

    def submissions(self) -> list[dict[str, Any]]:
        ledger = self.root / "submissions.jsonl"
        if not ledger.exists():
            return []
        return [json.loads(line) for line in ledger.read_text().splitlines()]

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(json.loads((self.root / "jobs" / f"{job_id}.json").read_text()))

    def find(self, token: str) -> str | None:
        for path in (self.root / "jobs").glob("*.json"):
            if json.loads(path.read_text())["token"] == token:
                return path.stem
        return None

    def finish(self, job_id: str) -> None:
        job = self.job(job_id)
        self._write(self.root / "jobs" / f"{job_id}.json", {**job, "status": "SUCCEEDED"})

    def released(self) -> bool:
        return (self.root / "release").exists()


class FileJob(ResumableJobMixin):
    external_id_key = "file_job_id"

    def __init__(self, root: Path, *, die_after_accept: bool = False) -> None:
        super().__init__()
        self.system = FileSystemJobs(root)
        self.die_after_accept = die_after_accept

    def submit_job(self, context: Any) -> Any:
        job_id = self.system.submit(self.idempotency_token(context))
        if self.die_after_accept:
            os.kill(os.getpid(), signal.SIGKILL)  # accepted by the system, id not yet saved
        return job_id

    def find_job(self, token: str, context: Any) -> Any:
        return self.system.find(token)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return str(self.system.job(external_id)["status"])

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        (self.system.root / f"polling-{os.getpid()}").write_text(str(external_id))
        while not self.system.released():
            time.sleep(0.02)
        self.system.finish(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"job": external_id, "status": self.system.job(external_id)["status"]}
