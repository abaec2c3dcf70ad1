"""Database polling, the floor of every signal transport: wakes, and what it keeps.

A worker and each of its children hear the signal of every task of their database
(LISTEN/NOTIFY or a Redis stream), and wait on almost none of them: what a signal
nobody waits on leaves behind must be nothing, or the processes grow with every task.
"""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
import uuid

from resumable.coordination._polling import DatabasePolling


def test_signals_nobody_waits_on_keep_no_memory() -> None:
    polling = DatabasePolling(lambda task_uuid: "in_progress", interval=60)
    for _ in range(2_000):  # warm: interned strings, dict resizes
        polling.notify(str(uuid.uuid4()))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(20_000):
            polling.notify(str(uuid.uuid4()))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # It kept ~170 bytes per signal (3.4 MB here) before; a few KiB is bookkeeping.
    assert grown < 100_000, grown
    polling.close()


def test_a_signal_wakes_its_waiter_before_the_interval() -> None:
    status = {"value": "in_progress"}
    polling = DatabasePolling(lambda task_uuid: status["value"], interval=30)
    task_uuid = str(uuid.uuid4())
    seen: list[str | None] = []
    waiter = threading.Thread(
        target=lambda: seen.append(polling.wait_for(task_uuid, {"success"}, timeout=30))
    )
    started = time.monotonic()
    waiter.start()
    time.sleep(0.2)  # let it read the status and sleep (a late waiter reads "success")
    status["value"] = "success"
    polling.notify(task_uuid)
    waiter.join(20)
    assert seen == ["success"]
    assert time.monotonic() - started < 10  # woken, not polled after 30 s
    # Two waiters on one task: both wake, and nothing is kept once they are gone.
    status["value"] = "in_progress"
    results: list[str | None] = []
    waiters = [
        threading.Thread(
            target=lambda: results.append(polling.wait_for(task_uuid, {"success"}, timeout=30))
        )
        for _ in range(2)
    ]
    for thread in waiters:
        thread.start()
    time.sleep(0.2)
    status["value"] = "success"
    polling.notify(task_uuid)
    for thread in waiters:
        thread.join(20)
    assert results == ["success", "success"]
    polling.close()
