"""The detached supervisor of one shell run: ``python -I _supervisor.py RUN_DIR``.

Standard library only, and run as a script, so it starts fast and whatever the
caller's ``PYTHONPATH`` is. It forks: the first process waits until the second has
become the leader of a new session and process group and has written ``process.json``
(its pid and start time), then exits, so the caller never owns a process that outlives
it. The second starts the command inside its group (output to ``output.log``), waits
for it, and writes ``exit_status.json`` atomically. Nothing here depends on the caller
staying alive: a retry reads what was left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def process_start_time(pid: int) -> str | None:
    """When ``pid`` started, as a string that differs for a reused pid; None if gone.

    Linux: the start time in clock ticks since boot (``/proc/PID/stat`` field 22)
    prefixed by the boot id, so it also changes across reboots. Elsewhere: ``ps``'s
    ``lstart``.
    """
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            # The command name (field 2) may hold spaces and parentheses: split after it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        if fields[0] in ("Z", "X"):  # a zombie has finished: it is not running any more
            return None
        boot = Path("/proc/sys/kernel/random/boot_id")
        boot_id = boot.read_text().strip() if boot.exists() else ""
        return f"{boot_id}:{fields[19]}"
    done = subprocess.run(
        ["ps", "-o", "lstart=", "-o", "stat=", "-p", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    )
    text = done.stdout.strip()
    if done.returncode != 0 or not text or text.split()[-1].startswith("Z"):
        return None
    return " ".join(text.split()[:-1])


def _write_json(path: Path, value: object) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)


def _ignore(signum: int, frame: object) -> None:
    """SIGTERM/SIGINT reach the whole group on cancel: the command handles its own; the
    supervisor stays to record how the command ended. (A handler, not SIG_IGN: an
    ignored signal would stay ignored in the command too.)"""


def _supervise(run_dir: Path, ready: int) -> int:
    spec = json.loads((run_dir / "spec.json").read_text())
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGHUP, _ignore)
    pid = os.getpid()
    _write_json(run_dir / "process.json", {"pid": pid, "start_time": process_start_time(pid)})
    os.write(ready, b"1")
    os.close(ready)
    command = spec["command"]
    with (run_dir / "output.log").open("ab") as output:
        try:
            child = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                cwd=spec.get("cwd"),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:  # no such program, no such cwd: as a shell would say it
            output.write(f"resumable shell: cannot start {command!r}: {exc}\n".encode())
            returncode = 127
        else:
            returncode = child.wait()
    _write_json(run_dir / "exit_status.json", {"returncode": returncode})
    return 0


def main(run_dir: Path) -> int:
    """Fork the detached supervisor; return once it has recorded its pid."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.close(read_end)
        os.setsid()
        try:
            code = _supervise(run_dir, write_end)
        except BaseException as exc:  # nobody is watching: leave the reason behind
            (run_dir / "supervisor-error.txt").write_text(repr(exc))
            code = 1
        os._exit(code)
    os.close(write_end)
    started = os.read(read_end, 1) == b"1"
    return 0 if started else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
