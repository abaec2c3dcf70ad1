"""A prefork pool: long-lived child processes, each running many attempts in turn.

Forking a child per attempt cost about 70 ms (fork, imports, new connections, statements
compiled again) for a task that may take 1 ms. Children here are started once, from the
forkserver (single-threaded, task modules pre-imported), configure the task framework
once, and then run one attempt at a time, as long as they live:

- the worker sends a child an attempt it claimed (its uuid and the claimed row), over
  the child's pipe; the child runs it and answers ``done``;
- a child killed (``kill_after``), crashed (segfault, OOM kill, ``os._exit``) or exited
  takes only its own attempt down; its slot is refilled by a fresh child on the next
  claim;
- ``max_tasks_per_child`` and ``max_memory_per_child`` retire a child after an attempt
  (it answers ``done`` and exits), so leaks in task code stay bounded;
- between attempts a child holds no task state: the task context, the acting user and
  the attempt's lease are released when its attempt ends, exactly as on a thread of the
  ``thread`` executor; what it keeps are pooled database connections and its signal
  listener, the things that made a child per attempt slow.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import os
import resource
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

import attrs

log = logging.getLogger("resumable.worker")

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


def release_forkserver() -> None:
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


RunOne = Callable[[str, Any], bool]
"""Runs one claimed attempt inside a child, given its key and what the worker handed
with it (never raises for a task's own failure); True when the attempt made its final
move, so the worker need not look at it."""


@attrs.frozen(kw_only=True)
class Recycling:
    """When a child is retired after an attempt.

    Attributes:
        max_tasks: Attempts a child runs before it is replaced (None: no limit).
        max_memory_kib: Resident memory (KiB) above which a child is replaced after its
            current attempt (None: no limit).
    """

    max_tasks: int | None = None
    max_memory_kib: int | None = None


def resident_kib() -> int:
    """This process's resident memory in KiB (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _serve(
    setup: Callable[[], RunOne],
    conn: multiprocessing.connection.Connection,
    owner_pid: int,
    recycling: Recycling,
) -> None:
    # Our parent is the forkserver, which exits when the owning worker does; the death
    # signal then reaches us. If the owner died before prctl took effect, leave now.
    die_with_parent()
    release_forkserver()
    if not _alive(owner_pid):
        os._exit(1)
    # The worker handles SIGTERM/SIGINT for everyone; a child ends when the worker
    # says so or kills it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run_one = setup()
    close = getattr(run_one, "close", None)
    conn.send((None, False, True))  # ready: set up, waiting for attempts
    done = 0
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the worker is gone
                return
            if message is None:
                return
            task_uuid, payload = message
            settled = False
            try:
                settled = run_one(task_uuid, payload)
            except Exception:  # the worker ends the attempt when it sees it unfinished
                log.exception("attempt crashed in its child task_uuid=%s", task_uuid)
            done += 1
            retire = (recycling.max_tasks is not None and done >= recycling.max_tasks) or (
                recycling.max_memory_kib is not None and resident_kib() > recycling.max_memory_kib
            )
            conn.send((task_uuid, retire, settled))
            if retire:
                return
    finally:
        if callable(close):
            close()


@attrs.define(eq=False)
class Slot:
    """One child process of the pool and the attempt it runs (``key``), if any."""

    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    key: str | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.process.is_alive()

    def kill(self) -> None:
        """SIGKILL the child (no cleanup runs in it: that is the point) and reap it."""
        with contextlib.suppress(ProcessLookupError, AttributeError):
            self.process.kill()
        self.process.join(5)


@attrs.frozen
class Ended:
    """An attempt whose child answered or died.

    Attributes:
        key: The attempt's task uuid.
        exitcode: The child's exit code when it died with the attempt, else None.
        settled: The child reported the attempt's final move made.
    """

    key: str
    exitcode: int | None
    settled: bool


@attrs.frozen
class Busy:
    """A child running attempt ``key``."""

    key: str
    slot: Slot


class PreforkPool:
    """Up to ``size`` long-lived children, started on demand, refilled when they die.

    Args:
        size: Children at most (the worker's concurrency).
        setup: Runs once in each new child; returns the function that runs one attempt
            (optionally with a ``close()`` called when the child ends).
        recycling: When children are retired.
        preload: Modules the forkserver imports once, so children start warm.
    """

    def __init__(
        self,
        size: int,
        setup: Callable[[], RunOne],
        *,
        recycling: Recycling | None = None,
        preload: Iterable[str] = (),
    ) -> None:
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        self._context: multiprocessing.context.BaseContext = multiprocessing.get_context(method)
        if method == "forkserver":
            self._context.set_forkserver_preload(list(preload))
        self._size = size
        self._setup = setup
        self._recycling = recycling or Recycling()
        self._slots: list[Slot] = []
        self._retired: list[multiprocessing.process.BaseProcess] = []
        self.started = 0
        """Children started so far (tests and benchmarks read it)."""

    # -- state ------------------------------------------------------------------------

    def __len__(self) -> int:
        """Attempts running now."""
        return sum(1 for slot in self._slots if slot.key is not None)

    def running(self) -> list[Busy]:
        """Children running an attempt, with its key."""
        return [Busy(slot.key, slot) for slot in self._slots if slot.key is not None]

    def children(self) -> list[Slot]:
        """Every live child, busy or idle."""
        return list(self._slots)

    def free(self) -> int:
        """Attempts that could start now."""
        return self._size - len(self)

    def handles(self) -> list[Any]:
        """What to wait on: a busy child's answer or exit, an idle child's exit."""
        busy = [slot.conn for slot in self._slots if slot.key is not None]
        return busy + [slot.process.sentinel for slot in self._slots]

    # -- running attempts -------------------------------------------------------------

    def fill(self, *, wait: float = 0.0) -> None:
        """Start children until every slot has one.

        Called before claiming, so a claimed attempt finds a child already set up
        instead of paying for its start while its lease runs. ``wait``: seconds to
        wait for the new children to finish their set-up (at worker start).
        """
        self._drop_dead()
        started = []
        while len(self._slots) < self._size:
            started.append(self._start())
        for slot in started:
            if wait and slot.conn.poll(wait):
                with contextlib.suppress(EOFError, OSError):
                    slot.conn.recv()  # its "ready"

    def submit(self, key: str, payload: Any = None) -> Slot:
        """Hand attempt ``key`` to an idle child (starting one if none is idle), with
        ``payload`` (plain values: it crosses the child's pipe)."""
        slot = next((s for s in self._slots if s.key is None and s.alive()), None)
        if slot is None:
            if len(self._slots) >= self._size:
                self._drop_dead()
            slot = self._start()
        message = (key, payload)
        try:
            slot.conn.send(message)
        except OSError:  # died while idle: a fresh child takes the attempt
            self._forget(slot)
            slot = self._start()
            slot.conn.send(message)
        slot.key = key
        return slot

    def _start(self) -> Slot:
        if len(self._slots) >= self._size:
            raise RuntimeError("no free slot in the child pool")
        ours, theirs = self._context.Pipe(duplex=True)  # type: ignore[attr-defined,unused-ignore]
        process = self._context.Process(  # type: ignore[attr-defined,unused-ignore]
            target=_serve,
            args=(self._setup, theirs, os.getpid(), self._recycling),
            name="resumable-child",
            daemon=False,
        )
        process.start()
        theirs.close()
        slot = Slot(process, ours)
        self._slots.append(slot)
        self.started += 1
        return slot

    def collect(self) -> list[Ended]:
        """Attempts that ended since the last call. Retired and dead idle children are
        dropped, so their slots refill on the next :meth:`fill` or :meth:`submit`."""
        ended: list[Ended] = []
        for slot in list(self._slots):
            if slot.key is not None:
                answered = retire = settled = False
                with contextlib.suppress(EOFError, OSError):
                    while slot.conn.poll():
                        key, retire, settled = slot.conn.recv()
                        answered = key == slot.key
                if answered:
                    ended.append(Ended(slot.key, None, settled))
                    slot.key = None
                    if retire:
                        # It exits now: never hand it another attempt. Reaped later.
                        self._forget(slot)
                        self._retired.append(slot.process)
                    continue
                if not slot.alive():
                    slot.process.join(0)
                    ended.append(Ended(slot.key, slot.process.exitcode, False))
                    self._forget(slot)
                    continue
            if slot.key is None and not slot.alive():
                slot.process.join(0)
                self._forget(slot)
        for process in list(self._retired):
            if not process.is_alive():
                process.join(0)
                self._retired.remove(process)
        return ended

    def kill(self, busy: Busy) -> None:
        """SIGKILL the child running ``busy``; its slot refills on the next submit."""
        busy.slot.kill()
        self._forget(busy.slot)

    def _forget(self, slot: Slot) -> None:
        with contextlib.suppress(ValueError):
            self._slots.remove(slot)
        slot.conn.close()

    def _drop_dead(self) -> None:
        # Idle ones only: a dead busy child is reported by collect() with its attempt.
        for slot in list(self._slots):
            if slot.key is None and not slot.alive():
                slot.process.join(0)
                self._forget(slot)

    def close(self, timeout: float = 5.0) -> None:
        """Ask idle children to exit, then kill whatever is left (busy ones included)."""
        for slot in self._slots:
            if slot.key is None:
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
        for slot in self._slots:
            if slot.key is None:
                slot.process.join(timeout)
        for slot in list(self._slots):
            if slot.alive():
                slot.kill()
            self._forget(slot)
        for process in self._retired:
            process.join(timeout)
        self._retired.clear()
