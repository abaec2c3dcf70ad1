"""Starting, watching and killing the child processes of the conformance kit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resumable.testing._events import read_events

_NOTHING = object()


def short(value: Any, limit: int = 70) -> str:
    """``repr(value)`` cut to ``limit`` characters, for report lines."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Run:
    """What one child process did: its events, how it ended, the tail of its log."""

    label: str
    pid: int
    events: list[dict[str, Any]] = field(default_factory=list)
    ending: str = "running"
    returncode: int | None = None
    log_tail: str = ""
    events_path: Path = Path()
    log_path: Path = Path()

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The ``call`` events of ``method``, in order."""
        return [e for e in self.events if e["kind"] == "call" and e["method"] == method]

    def returned(self, method: str) -> list[Any]:
        """The values ``method`` returned, in order."""
        return [e["value"] for e in self.events if e["kind"] == "return" and e["method"] == method]

    @property
    def decision(self) -> str | None:
        """The mixin's decision in this run (None if it never decided)."""
        found = [e["value"] for e in self.events if e["kind"] == "decision"]
        return found[0] if found else None

    @property
    def result(self) -> Any:
        """The run's result, or a sentinel when it returned none."""
        found = [e["value"] for e in self.events if e["kind"] == "result"]
        return found[0] if found else _NOTHING

    @property
    def has_result(self) -> bool:
        return self.result is not _NOTHING

    def story(self) -> str:
        """One line: the decision and each call the mixin made, then how the run ended."""
        steps = []
        for event in self.events:
            kind = event["kind"]
            if kind == "decision":
                steps.append(f"decision {event['value']}")
            elif kind == "call":
                arg = "" if event.get("subject") is None else short(event["subject"], 50)
                steps.append(f"{event['method']}({arg})")
            elif kind == "return" and event["method"] in ("submit_job", "find_job"):
                steps[-1] += f" -> {short(event['value'], 50)}"
            elif kind == "raise":
                steps[-1] += f" raised {short(event['error'], 80)}"
            elif kind == "result":
                steps.append(f"result {short(event['value'])}")
            elif kind in ("failed", "factory_failed"):
                steps.append(f"failed: {short(event['error'], 120)}")
            elif kind == "status":
                step = f"status {short(event['value'], 40)}"
                if not steps or steps[-1] != step:  # a wait shows each status once
                    steps.append(step)
        steps.append(self.ending)
        return f"{self.label} (pid {self.pid}): " + "; ".join(steps)


class Runner:
    """Starts children for one scenario and keeps what they did."""

    def __init__(
        self,
        folder: Path,
        *,
        store_url: str,
        factories: dict[str, Path],
        main_file: str | None,
        timeout: float,
        env: dict[str, str],
    ) -> None:
        self.folder = folder
        self.store_url = store_url
        self.factories = factories
        self.main_file = main_file
        self.timeout = timeout
        self.env = env
        self.namespace = "resumable.check_job"
        self.scope_key = f"{folder.name}-{uuid.uuid4().hex[:8]}"
        self.runs: list[Run] = []
        self._count = 0

    def start(
        self, label: str, *, mode: str = "run", factory: str = "job", **extra: Any
    ) -> tuple[Run, subprocess.Popen[bytes]]:
        """Start one child; returns its :class:`Run` (filled in by :meth:`wait`)."""
        self._count += 1
        events = self.folder / f"{self._count}-events.jsonl"
        spec = {
            "sys_path": [p for p in sys.path if p],
            "main_file": self.main_file,
            "store_url": self.store_url,
            "namespace": self.namespace,
            "scope_key": self.scope_key,
            "mode": mode,
            "events": str(events),
            **extra,
        }
        folder = self.folder / f"{self._count}-{factory}"
        folder.mkdir()
        (folder / "factory.pickle").write_bytes(self.factories[factory].read_bytes())
        (folder / "spec.json").write_text(json.dumps(spec))
        log = (self.folder / f"{self._count}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "resumable.testing._child", str(folder / "spec.json")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=os.getcwd(),
        )
        log.close()
        run = Run(
            label=label,
            pid=process.pid,
            events_path=events,
            log_path=self.folder / f"{self._count}.log",
        )
        self.runs.append(run)
        return run, process

    def refresh(self, run: Run) -> Run:
        run.events = read_events(run.events_path)
        return run

    def wait_for(
        self,
        run: Run,
        process: subprocess.Popen[bytes],
        reached: Callable[[dict[str, Any]], bool],
    ) -> bool:
        """Wait until an event of ``run`` satisfies ``reached``; False if the run ended first."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if any(reached(e) for e in self.refresh(run).events):
                return True
            if process.poll() is not None:
                self.finish(run, process)
                return any(reached(e) for e in run.events)
            time.sleep(0.02)
        self.kill(run, process, why=f"timed out after {self.timeout:.0f} s")
        return False

    def kill(
        self,
        run: Run,
        process: subprocess.Popen[bytes],
        *,
        sig: signal.Signals = signal.SIGKILL,
        why: str | None = None,
    ) -> bool:
        """Send ``sig``; True if the child was still running to receive it."""
        if process.poll() is not None:
            self.finish(run, process)
            return False
        process.send_signal(sig)
        if sig is signal.SIGKILL:
            self.finish(run, process, ending=why or "killed with SIGKILL")
        return True

    def wait(self, run: Run, process: subprocess.Popen[bytes]) -> Run:
        """Wait for the child to end (killing it after the timeout) and fill in ``run``."""
        try:
            process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill(run, process, why=f"timed out after {self.timeout:.0f} s (killed)")
        return self.finish(run, process)

    def run(self, label: str, **kwargs: Any) -> Run:
        """Start a child and wait for it."""
        run, process = self.start(label, **kwargs)
        return self.wait(run, process)

    def finish(self, run: Run, process: subprocess.Popen[bytes], ending: str | None = None) -> Run:
        code = process.wait()
        self.refresh(run)
        run.returncode = code
        if ending is not None:
            run.ending = ending
        elif run.ending == "running":
            run.ending = _ending(code)
        text = run.log_path.read_text(errors="replace")
        run.log_tail = "\n".join(text.splitlines()[-15:])
        return run


def _ending(code: int) -> str:
    if code == 0:
        return "exited 0"
    if code < 0:
        return f"died of {signal.Signals(-code).name}"
    if code == 130:
        return "stopped by KeyboardInterrupt (exit 130)"
    return f"exited {code}"
