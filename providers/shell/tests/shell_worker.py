"""``python shell_worker.py STORE_URL RUN_ROOT CODE``: run_job a ShellJob running CODE.

The caller the tests SIGKILL: prints ``polling`` once the command runs, logs the
command's output to stderr, prints the result as JSON at the end.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from resumable_providers.shell.jobs import ShellJob
from shell_factories import python_command

import resumable


class AnnouncedShellJob(ShellJob):
    def poll_until_complete(self, external_id, context):  # type: ignore[no-untyped-def]
        print("polling", flush=True)
        return super().poll_until_complete(external_id, context)


def main() -> None:
    url, run_root, code = sys.argv[1:4]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    job = AnnouncedShellJob(python_command(code), run_root=run_root, poll_interval=0.05)
    with resumable.open_store(url) as store:
        result = resumable.run_job(job, store=store.scope("shell", "run-1"))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
