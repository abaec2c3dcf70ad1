"""The tasks benchmarks/bench_workers.py runs in ``resumable worker --import _worker_tasks``.

Markers are written to a temp file and renamed, so the bench never reads half a
timestamp.
"""

from __future__ import annotations

import os
import time

from resumable import TaskScope, get_context, task


def mark(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


@task(name="bench_abort")
def wait_for_abort(marker: str) -> None:
    ctx = get_context()
    ctx.on_abort(lambda: mark(marker + ".aborted", repr(time.time())))
    mark(marker + ".ready", repr(time.time()))
    ctx.abort_requested.wait(300)


@task(name="bench_crash", retries=1)
def checkpointing(marker: str) -> None:
    ctx = get_context()
    ctx.on_abort(lambda: None)
    resumed_from = ctx.store.get("step", 0)
    mark(f"{marker}.attempt{ctx.attempt}", f"{time.time()!r} {resumed_from}")
    step = resumed_from
    while not ctx.abort_requested.is_set():
        step += 1
        ctx.store.set("step", step)
        ctx.abort_requested.wait(0.1)


@task(name="bench_noop")
def noop() -> None:
    return None


@task(name="bench_shared", scope=TaskScope.SHARED)
def shared() -> None:
    return None
