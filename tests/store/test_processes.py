"""The store across real processes: fencing, concurrent attempts and writers, SIGKILL.

Every child is a fresh interpreter (``python -c``) on a backend other processes can
reach (SQLite file, PostgreSQL, Redis). Children that must start together block on a
line from stdin, sent once all of them reported "ready".
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import resumable

pytestmark = pytest.mark.slow

DEADLINE = 120  # seconds: generous, the machine is shared; never an assertion on speed


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expect_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        _, err = proc.communicate(timeout=DEADLINE)
        pytest.fail(f"child said {line!r}, expected {expected!r}; stderr:\n{err}")


def _finish(proc: subprocess.Popen[str], send: str = "") -> str:
    out, err = proc.communicate(input=send, timeout=DEADLINE)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{err}"
    return out


@contextmanager
def _children(procs: list[subprocess.Popen[str]]) -> Iterator[list[subprocess.Popen[str]]]:
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=DEADLINE)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


STALE_WRITER = """
    import json, sys
    import resumable
    store = resumable.open_store(sys.argv[1])
    old = store.scope("fence", "run").new_attempt()
    old.set("owner", "first")
    print("ready", old.attempt, flush=True)
    sys.stdin.readline()  # the parent starts a newer attempt meanwhile
    outcome = {}
    writes = {
        "set": lambda: old.set("owner", "zombie"),
        "update": lambda: old.update({"owner": "zombie", "extra": 1}),
        "delete": lambda: old.delete("owner"),
        "clear": old.clear,
    }
    for name, write in writes.items():
        try:
            write()
            outcome[name] = "written"
        except resumable.StaleAttemptError as exc:
            outcome[name] = [exc.attempt, exc.current]
    outcome["read"] = old.get("owner")
    print(json.dumps(outcome), flush=True)
"""

NEW_ATTEMPT = """
    import sys
    import resumable
    with resumable.open_store(sys.argv[1]) as store:
        fresh = store.scope("fence", "run").new_attempt()
        fresh.set("owner", "second")
        print(fresh.attempt, flush=True)
"""


def test_older_attempt_in_another_process_is_fenced(shared_store_url: str) -> None:
    with _children([_spawn(STALE_WRITER, shared_store_url)]) as (stale,):
        assert stale.stdout is not None
        ready, old_attempt = stale.stdout.readline().split()
        assert ready == "ready"
        newer = int(_finish(_spawn(NEW_ATTEMPT, shared_store_url)))
        assert newer > int(old_attempt)
        outcome = json.loads(_finish(stale, "go\n"))
    for write in ("set", "update", "delete", "clear"):
        assert outcome[write] == [int(old_attempt), newer], write
    assert outcome["read"] == "second"  # reads stay allowed
    with resumable.open_store(shared_store_url) as store:
        scope = store.scope("fence", "run")
        assert scope.keys() == ["owner"]
        assert scope.get("owner") == "second"


ATTEMPT_TAKER = """
    import json, sys
    import resumable
    store = resumable.open_store(sys.argv[1])
    scope = store.scope("attempts", "run")
    print("ready", flush=True)
    sys.stdin.readline()
    numbers = [scope.new_attempt().attempt for _ in range(int(sys.argv[2]))]
    print(json.dumps(numbers), flush=True)
"""


def test_concurrent_new_attempts_are_distinct_and_increasing(shared_store_url: str) -> None:
    processes, per_process = 5, 8
    procs = [_spawn(ATTEMPT_TAKER, shared_store_url, str(per_process)) for _ in range(processes)]
    with _children(procs):
        for proc in procs:
            _expect_line(proc, "ready")
        results = [json.loads(_finish(proc, "go\n")) for proc in procs]
    everything = [n for numbers in results for n in numbers]
    for numbers in results:
        assert numbers == sorted(set(numbers)), "strictly increasing within a process"
    assert sorted(everything) == list(range(1, processes * per_process + 1))
    with resumable.open_store(shared_store_url) as store:
        assert store.scope("attempts", "run").new_attempt().attempt == len(everything) + 1


WRITER = """
    import sys
    import resumable
    url, me, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = resumable.open_store(url)
    shared = store.scope("writers", "shared")
    own = store.scope("writers", f"own-{me}")
    print("ready", flush=True)
    sys.stdin.readline()
    for j in range(rounds):
        own.set(f"k{j}", {"writer": me, "j": j})
        shared.set(f"p{me}:{j}", [me, j])
        shared.update({f"u{me}:{j}:a": j, f"u{me}:{j}:b": {"writer": me}, "last": me})
    print("done", flush=True)
"""


def test_concurrent_writers_lose_nothing(shared_store_url: str) -> None:
    writers, rounds = 5, 30
    procs = [_spawn(WRITER, shared_store_url, str(me), str(rounds)) for me in range(writers)]
    with _children(procs):
        for proc in procs:
            _expect_line(proc, "ready")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            assert _finish(proc).strip() == "done"
    with resumable.open_store(shared_store_url) as store:
        shared = store.scope("writers", "shared")
        expected = {"last"}
        for me in range(writers):
            own = store.scope("writers", f"own-{me}")
            assert own.keys() == sorted(f"k{j}" for j in range(rounds))
            for j in range(rounds):
                assert own.get(f"k{j}") == {"writer": me, "j": j}
                assert shared.get(f"p{me}:{j}") == [me, j]
                assert shared.get(f"u{me}:{j}:a") == j
                assert shared.get(f"u{me}:{j}:b") == {"writer": me}
                expected |= {f"p{me}:{j}", f"u{me}:{j}:a", f"u{me}:{j}:b"}
        assert set(shared.keys()) == expected
        assert shared.get("last") in range(writers)


STREAMER = """
    import sys
    import resumable
    store = resumable.open_store(sys.argv[1])
    fenced = store.scope("stream", "run").new_attempt()
    j = 0
    while True:
        # update() is atomic: "cursor" and "batch" always belong to the same j.
        fenced.update({"cursor": j, "batch": {"j": j, "rows": list(range(j % 50))}})
        fenced.set(f"row-{j}", j)
        print(j, flush=True)
        j += 1
"""


def test_writer_killed_mid_stream_leaves_a_consistent_store(shared_store_url: str) -> None:
    with _children([_spawn(STREAMER, shared_store_url)]) as (proc,):
        assert proc.stdout is not None
        confirmed = -1
        deadline = time.monotonic() + DEADLINE
        while confirmed < 200:
            line = proc.stdout.readline()
            assert line, f"writer died early:\n{proc.communicate(timeout=DEADLINE)[1]}"
            confirmed = int(line)
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEADLINE)
        assert proc.returncode == -signal.SIGKILL
    if shared_store_url.startswith("sqlite:///"):
        path = shared_store_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with resumable.open_store(shared_store_url) as store:
        scope = store.scope("stream", "run")
        cursor = scope.get("cursor")
        # Everything the writer reported as written survived the kill...
        assert cursor >= confirmed
        assert scope.get("batch") == {"j": cursor, "rows": list(range(cursor % 50))}
        rows = [key for key in scope.keys() if key.startswith("row-")]
        # ...and the rows form an unbroken run: nothing half-written, nothing lost.
        assert sorted(int(key.removeprefix("row-")) for key in rows) == list(range(len(rows)))
        assert len(rows) - 1 in (cursor - 1, cursor)
        assert all(scope.get(f"row-{j}") == j for j in range(len(rows)))
        # A restarted worker takes over with a newer attempt and keeps writing.
        successor = scope.new_attempt()
        successor.set("cursor", cursor + 1)
        assert scope.get("cursor") == cursor + 1
