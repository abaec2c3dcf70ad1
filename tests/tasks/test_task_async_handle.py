"""The async twins of the Task handle: arefresh, await_done, acancel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import resumable
from resumable import CancelAction, get_context, task


@pytest.mark.usefixtures("tasks_db")
def test_await_done_leaves_the_loop_free(gate: Any) -> None:
    @task
    def slow() -> str:
        gate.block()
        return "done"

    async def main() -> tuple[resumable.Task, int]:
        t = slow.schedule()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(t.await_done(timeout=20))
        await asyncio.to_thread(gate.wait_entered)
        await asyncio.sleep(0.2)
        assert not waiting.done()
        gate.release.set()
        done = await waiting
        ticking.cancel()
        return done, ticks

    done, ticks = asyncio.run(main())
    assert done.status == "success" and done.result == "done"
    assert ticks >= 10  # the loop kept running while the task was awaited


@pytest.mark.usefixtures("tasks_db")
def test_await_done_times_out(gate: Any) -> None:
    @task
    def stuck() -> None:
        gate.block()

    async def main() -> None:
        t = stuck.schedule()
        with pytest.raises(resumable.TaskTimeoutError):
            await t.await_done(timeout=0.2)
        with pytest.raises(resumable.InvalidValueError):
            await t.await_done(timeout=-1)

    try:
        asyncio.run(main())
    finally:
        gate.release.set()


@pytest.mark.usefixtures("tasks_db")
def test_arefresh_and_acancel(gate: Any) -> None:
    @task
    def stoppable() -> None:
        ctx = get_context()

        @ctx.on_abort
        def stop() -> None: ...

        gate.block()

    async def main() -> tuple[CancelAction, resumable.Task]:
        t = stoppable.schedule()
        await asyncio.to_thread(gate.wait_entered)
        assert (await t.arefresh()).status == "in_progress"
        action = await t.acancel()
        gate.release.set()
        return action, await t.await_done(timeout=20)

    action, done = asyncio.run(main())
    assert action is CancelAction.ABORTED and action == "aborted"
    assert str(action) == "aborted"
    assert done.status == "aborted"


def test_acancel_unsubscribes_as_the_current_user(configure_tasks: Any) -> None:
    configure_tasks(executor="worker")  # nobody runs it: it stays pending

    @task(scope="shared")
    def report() -> None: ...

    options = resumable.TaskOptions(task_key="k")
    with resumable.acting_as("alice"):
        t = report.schedule(options=options)
    with resumable.acting_as("bob"):
        report.schedule(options=options)

    async def as_alice() -> CancelAction:
        with resumable.acting_as("alice"):
            return await t.acancel()

    assert asyncio.run(as_alice()) is CancelAction.UNSUBSCRIBED
    with resumable.acting_as("bob"):
        assert t.cancel() == CancelAction.ABORTED
