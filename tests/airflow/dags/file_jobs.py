"""An external job system for the Airflow tests: jobs are directories on disk.

Tries of an Airflow task run in different processes (and a killed try leaves no memory
behind), so the "external system" keeps everything in files under ``root``:

- ``jobs/<id>/token`` — the client token a job was submitted with,
- ``submissions.log`` — one line per accepted submission,
- ``release`` — when present, every running job has succeeded,
- ``jobs/<id>/cancelled`` — written by ``cancel``,
- ``watch_broken`` — when present, watching a job fails (a dropped connection),
- ``markers/<event>.<try>`` — JSON (pid, run id, try) the operator writes at each step,
  so the test knows which process to kill and when.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

ROOT_ENV = "RESUMABLE_TEST_JOBS"


class FileJobs:
    """The job system rooted at a directory (``RESUMABLE_TEST_JOBS`` by default)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root if root is not None else os.environ[ROOT_ENV])

    def submit(self, token: str | None) -> str:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        job = self.root / "jobs" / job_id
        job.mkdir(parents=True)
        (job / "token").write_text(token or "")
        with (self.root / "submissions.log").open("a") as log:
            log.write(job_id + "\n")
        return job_id

    def status(self, job_id: str) -> str:
        job = self.root / "jobs" / job_id
        if not job.is_dir():
            return "UNKNOWN"
        if (job / "cancelled").exists():
            return "CANCELLED"
        if (self.root / "release").exists():
            return "SUCCEEDED"
        return "RUNNING"

    def find(self, token: str) -> str | None:
        for job in sorted((self.root / "jobs").glob("*")):
            if (job / "token").read_text() == token:
                return job.name
        return None

    def cancel(self, job_id: str) -> None:
        (self.root / "jobs" / job_id / "cancelled").write_text("cancelled")

    def result(self, job_id: str) -> dict[str, Any]:
        return {"job_id": job_id, "rows": 42}

    def submissions(self) -> list[str]:
        log = self.root / "submissions.log"
        return log.read_text().split() if log.exists() else []

    def watch(self, job_id: str) -> str:
        """The status as a long-lived watch sees it; fails while the watch is broken."""
        if (self.root / "watch_broken").exists():
            raise ConnectionError(f"lost the connection watching {job_id}")
        return self.status(job_id)

    def break_watch(self) -> None:
        (self.root / "watch_broken").write_text("down")

    def release(self) -> None:
        (self.root / "release").write_text("go")

    def record_page(self, page: int, try_number: int) -> None:
        with (self.root / "pages.log").open("a") as log:
            log.write(f"{try_number} {page}\n")

    def pages(self) -> list[tuple[int, int]]:
        """(try number, page) for every page processed, in order."""
        log = self.root / "pages.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [(int(t), int(p)) for t, p in (line.split() for line in lines)]

    def mark(self, event: str, try_number: int, **fields: Any) -> None:
        markers = self.root / "markers"
        markers.mkdir(parents=True, exist_ok=True)
        body = {"pid": os.getpid(), "ppid": os.getppid(), "try": try_number, **fields}
        tmp = markers / f".{event}.{try_number}.tmp"
        tmp.write_text(json.dumps(body))
        tmp.rename(markers / f"{event}.{try_number}")  # atomic: readers never see half

    def marker(self, event: str, try_number: int) -> dict[str, Any] | None:
        path = self.root / "markers" / f"{event}.{try_number}"
        return json.loads(path.read_text()) if path.exists() else None
