"""CPU time by process, read from /proc (Linux): where a benchmark's work is done.

Throughput on a small machine is bounded by the CPU every process of a run needs per
task, and that splits cleanly by process: the client, a Celery worker's main process,
its pool processes, PostgreSQL's backends and Redis. Read before and after a round, the
difference per task says which part grew; far steadier than the rates themselves on a
shared machine.
"""

from __future__ import annotations

import os
import subprocess

_TICKS = os.sysconf("SC_CLK_TCK")


def _seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _pids(*arguments: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", *arguments], check=False, capture_output=True, text=True
    ).stdout
    return [int(pid) for pid in found.split()]


def cpu_by_process(worker_pid: int) -> dict[str, float]:
    """CPU seconds so far of this process, a Celery worker (``worker_pid``: its main
    process; its children are the pool), every ``postgres`` and ``redis-server``
    process on this machine."""
    times = os.times()
    return {
        "client": times.user + times.system,
        "Celery main": _seconds(worker_pid),
        "pool": sum(_seconds(pid) for pid in _pids("-P", str(worker_pid))),
        "PostgreSQL": sum(_seconds(pid) for pid in _pids("-x", "postgres")),
        "Redis": sum(_seconds(pid) for pid in _pids("-x", "redis-server")),
    }


def per_task_ms(before: dict[str, float], after: dict[str, float], tasks: int) -> dict[str, float]:
    """Milliseconds of CPU per task by process between two readings, with a total."""
    spent = {name: (after[name] - before[name]) * 1000 / tasks for name in before}
    spent["total"] = sum(spent.values())
    return spent
