"""Running callables in child processes, one child per job, killable one by one.

The ``worker`` executor runs every task attempt in a child process of its own so that
a task ignoring an abort can be stopped for real (``kill_after``): killing a thread is
impossible in Python, killing a process is not.

Children come from a *forkserver*: a clean, single-threaded process started once, with
the task modules pre-imported, which forks a child per job in a few milliseconds. Forking
the worker itself would copy its threads' locks in whatever state they were in; spawning
a fresh interpreter per task would cost a second of imports each time.

On Linux every child asks the kernel to SIGKILL it when its parent dies, so a worker
that is SIGKILLed takes its tasks down with it and their leases expire normally,
instead of orphans finishing work nobody watches.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_forkserver() -> None:
    """Drop this child's copy of the pipe by which the forkserver notices its owner exit.

    multiprocessing hands every forkserver child the write end of that pipe; while any
    child holds it the forkserver never sees EOF, so a SIGKILLed worker would leave its
    forkserver, and through it its children, running and heartbeating forever.
    """
    from multiprocessing import forkserver

    server: Any = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _child_entry(target: Callable[..., None], args: tuple[Any, ...], owner_pid: int) -> None:
    # Our parent is the forkserver, which exits when the owning worker does; the death
    # signal then reaches us. If the owner died before prctl took effect, leave now.
    die_with_parent()
    _release_forkserver()
    if not _alive(owner_pid):
        os._exit(1)
    # The worker handles SIGTERM/SIGINT for everyone; a child ends only when its task
    # does or when the worker kills it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    target(*args)


@dataclass
class Child:
    """One running child process and the job key it runs."""

    key: str
    process: multiprocessing.process.BaseProcess

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.process.is_alive()

    def kill(self) -> None:
        """SIGKILL the child (no cleanup runs in it: that is the point)."""
        with contextlib.suppress(ProcessLookupError, AttributeError):
            self.process.kill()


class ProcessPool:
    """Starts one child process per job and keeps track of them.

    Args:
        preload: Modules the forkserver imports once, so children start warm.
    """

    def __init__(self, preload: Iterable[str] = ()) -> None:
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        self._context: multiprocessing.context.BaseContext = multiprocessing.get_context(method)
        if method == "forkserver":
            self._context.set_forkserver_preload(list(preload))
        self._children: dict[str, Child] = {}

    def start(self, key: str, target: Callable[..., None], *args: Any) -> Child:
        """Run ``target(*args)`` in a new child process registered under ``key``."""
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_child_entry,
            args=(target, args, os.getpid()),
            name=f"resumable-task-{key[:8]}",
            daemon=False,
        )
        process.start()
        child = Child(key, process)
        self._children[key] = child
        return child

    def running(self) -> list[Child]:
        """Children still registered (call :meth:`collect` first to drop finished ones)."""
        return list(self._children.values())

    def __len__(self) -> int:
        return len(self._children)

    def get(self, key: str) -> Child | None:
        """The child running ``key``, if any."""
        return self._children.get(key)

    def collect(self) -> list[tuple[Child, int | None]]:
        """Drop children that ended; return them with their exit codes."""
        ended = []
        for key, child in list(self._children.items()):
            if not child.alive():
                child.process.join(0)
                ended.append((child, child.process.exitcode))
                del self._children[key]
        return ended

    def kill_all(self) -> None:
        """SIGKILL every child and wait for them."""
        for child in self._children.values():
            child.kill()
        for child in self._children.values():
            child.process.join(5)
        self._children.clear()
