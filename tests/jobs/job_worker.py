"""A worker process for the crash tests: ``python job_worker.py STORE_URL ROOT [MODE]``.

Runs ``run_job`` on a :class:`file_system_jobs.FileJob` in scope ("pipeline", "run-1")
and prints the result as JSON; ``resumable.jobs`` log lines go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from file_system_jobs import FileJob

import resumable


def main() -> None:
    url, root = sys.argv[1], Path(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    with resumable.open_store(url) as store:
        job = FileJob(root, die_after_accept=mode == "die_after_accept")
        result = resumable.run_job(job, store=store.scope("pipeline", "run-1"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
