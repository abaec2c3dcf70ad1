"""A runner that pauses itself (SIGSTOP) at one phase of submit, for test_job_pause.py.

``python pause_worker.py STORE_URL ROOT MODE FINDABLE`` runs ``run_job`` (with retries,
which a stale attempt must not use) on a file-backed job in scope ("pipeline", "run-1")
and prints the result as JSON; a run that ends in an error prints ``ERROR <type>``
and exits 1. MODE is where the runner stops itself, after writing ``paused-<pid>``:

- ``plain``: nowhere;
- ``pause_before_accept``: inside ``submit_job``, before the system accepts the job;
- ``pause_after_accept``: inside ``submit_job``, after it accepted, before returning;
- ``pause_in_find``: inside ``find_job``, with its (soon stale) answer in hand;
- ``die_before_accept``: SIGKILLs itself inside ``submit_job`` before the system accepts;
- ``checkpoint``: nowhere, but writes a checkpoint every 20 ms while it polls (and
  counts them in ``checkpoints-<pid>``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from file_system_jobs import FileSystemJobs

import resumable
from resumable import ResumableJobMixin


class PausingJob(ResumableJobMixin):
    external_id_key = "file_job_id"

    def __init__(self, root: Path, mode: str) -> None:
        super().__init__()
        self.system = FileSystemJobs(root)
        self.mode = mode

    def _pause(self) -> None:
        (self.system.root / f"paused-{os.getpid()}").write_text(self.mode)
        os.kill(os.getpid(), signal.SIGSTOP)  # the test sends SIGCONT

    def submit_job(self, context: Any) -> Any:
        if self.mode == "die_before_accept":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "pause_before_accept":
            self._pause()
        job_id = self.system.submit(self.idempotency_token(context))
        if self.mode == "pause_after_accept":
            self._pause()
        return job_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return str(self.system.job(external_id)["status"])

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        (self.system.root / f"polling-{os.getpid()}").write_text(str(external_id))
        written = 0
        while not self.system.released():
            if self.get_job_status(external_id, context) != "RUNNING":
                break
            if self.mode == "checkpoint":
                written += 1
                context["task_state_store"].set("progress", {"polls": written})
                (self.system.root / f"checkpoints-{os.getpid()}").write_text(str(written))
            time.sleep(0.02)
        if self.get_job_status(external_id, context) == "RUNNING":
            self.system.finish(external_id)
        status = self.get_job_status(external_id, context)
        if status != "SUCCEEDED":
            raise RuntimeError(f"job {external_id} ended {status}")

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"job": external_id, "status": self.system.job(external_id)["status"]}

    def cancel_job(self, external_id: Any, context: Any) -> None:
        job = self.system.job(external_id)
        self.system._write(
            self.system.root / "jobs" / f"{external_id}.json", {**job, "status": "CANCELLED"}
        )


class FindablePausingJob(PausingJob):
    def find_job(self, token: str, context: Any) -> Any:
        answer = self.system.find(token)
        if self.mode == "pause_in_find":
            self._pause()
        return answer


def main() -> None:
    url, root, mode, findable = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    job_class = FindablePausingJob if findable == "findable" else PausingJob
    with resumable.open_store(url) as store:
        try:
            result = resumable.run_job(
                job_class(root, mode), store=store.scope("pipeline", "run-1"), retries=2
            )
        except Exception as exc:
            print(f"ERROR {type(exc).__name__}")
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
