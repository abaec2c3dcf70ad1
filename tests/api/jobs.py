"""Tasks the API tests watch and cancel; each blocks on an event the test controls."""

from __future__ import annotations

import threading
from collections import defaultdict

from resumable import TaskScope, get_context, task

DEADLINE = 30.0

entered: defaultdict[str, threading.Event] = defaultdict(threading.Event)
release: defaultdict[str, threading.Event] = defaultdict(threading.Event)


def _hold(gate: str, stop: threading.Event | None = None) -> None:
    entered[gate].set()
    waiting = release[gate]
    for _ in range(int(DEADLINE / 0.02)):
        if waiting.is_set() or (stop is not None and stop.is_set()):
            return
        waiting.wait(0.02)


@task(name="api_tests.abortable")
def abortable(gate: str) -> None:
    """Reports 1 of 4 done, then waits for its gate or an abort."""
    ctx = get_context()
    ctx.on_abort(lambda: None)
    ctx.update_task(progress=(1, 4), payload={"gate": gate})
    _hold(gate, ctx.abort_requested)


@task(name="api_tests.stubborn")
def stubborn(gate: str) -> None:
    """Runs without an abort handler until its gate opens."""
    _hold(gate)


@task(name="api_tests.watching", abortable=True)
def watching(gate: str) -> None:
    """No abort handler: declared abortable, it watches ctx.abort_requested itself."""
    _hold(gate, get_context().abort_requested)


@task(name="api_tests.quick")
def quick(n: int) -> None:
    """Ends at once."""
    get_context().update_task(progress=(n, n))


@task(name="api_tests.returning")
def returning(n: int) -> dict[str, int]:
    """Returns a JSON value (``Task.result`` once the task succeeded)."""
    return {"rows": n}


@task(name="api_tests.broken")
def broken() -> None:
    """Fails with a traceback."""
    raise RuntimeError("disk full")


@task(name="api_tests.shared", scope=TaskScope.SHARED)
def shared(gate: str) -> None:
    """A shared task that can be aborted while it waits."""
    ctx = get_context()
    ctx.on_abort(lambda: None)
    _hold(gate, ctx.abort_requested)


@task(name="api_tests.system", scope=TaskScope.SYSTEM)
def system(gate: str) -> None:
    """A system task that can be aborted while it waits."""
    ctx = get_context()
    ctx.on_abort(lambda: None)
    _hold(gate, ctx.abort_requested)


@task(name="api_tests.counting")
def counting(gate: str, total: int) -> None:
    """Counts to ``total``, one step every 0.3 s, until its gate opens or an abort."""
    ctx = get_context()
    ctx.on_abort(lambda: None)
    entered[gate].set()
    for done in range(1, total + 1):
        ctx.update_task(progress=(done, total), payload={"step": done})
        if ctx.abort_requested.wait(0.3) or release[gate].is_set():
            return
