"""``resumable demo``: a worker dies mid-poll; the next one reconnects instead of resubmitting.

No server and no configuration: the state lives in the embedded SQLite store. The
external job is a real detached process that works for a few seconds and reports its
status in a file. The demo runs the standalone pipeline in a child worker process,
SIGKILLs that worker while it polls, starts a new worker, and shows that the new one
reconnected to the same job, submitted nothing, and finished.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from resumable.cli._urls import persistent
from resumable.jobs import ResumableJobMixin, run_job
from resumable.store import default_store_url, open_store

NAMESPACE = "resumable_demo"
STEPS = 30
STEP_SECONDS = 0.2
KILL_AT = 0.35  # fraction of the job done when worker 1 is killed
DEADLINE = 25.0  # seconds; the demo stays under 30

# The external job: a detached process, independent of resumable, that works through its
# steps and rewrites a status file (atomically) after each one.
_EXTERNAL_JOB = """
import json, os, sys, time
status_path, steps, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def report(**status):
    temporary = status_path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump({"pid": os.getpid(), "total": steps, **status}, handle)
    os.replace(temporary, status_path)
for done in range(steps):
    report(state="RUNNING", done=done)
    time.sleep(pause)
report(state="SUCCEEDED", done=steps, result={"rows_exported": steps * 1000})
"""

_WORKER_BOOT = "from resumable.cli._demo import worker_main; worker_main()"


def _emit(**event: Any) -> None:
    """One JSON line on stdout: how a worker tells the demo what it is doing."""
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


class LocalProcessJob(ResumableJobMixin):
    """A ResumableJobMixin job whose external system is a detached local process."""

    external_id_key = "local_job_id"

    def __init__(self, workdir: Path, *, steps: int, step_seconds: float) -> None:
        super().__init__()
        self.workdir = workdir
        self.steps = steps
        self.step_seconds = step_seconds

    def _status_path(self, external_id: str) -> Path:
        return self.workdir / f"{external_id}.json"

    def _status(self, external_id: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._status_path(external_id).read_text()))
        except FileNotFoundError:
            return {"state": "UNKNOWN"}

    def submit_job(self, context: Any) -> Any:
        token = self.idempotency_token(context) or uuid.uuid4().hex
        external_id = f"job-{token[:8]}"
        status_path = self._status_path(external_id)
        status_path.write_text(json.dumps({"state": "STARTING", "done": 0, "total": self.steps}))
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _EXTERNAL_JOB,
                str(status_path),
                str(self.steps),
                str(self.step_seconds),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # detached: it outlives the worker that started it
        )
        with (self.workdir / "submissions.jsonl").open("a") as ledger:
            ledger.write(json.dumps({"id": external_id, "token": token, "pid": process.pid}) + "\n")
        _emit(event="submitted", job=external_id, pid=process.pid)
        return external_id

    def find_job(self, token: str, context: Any) -> Any:
        for entry in _ledger(self.workdir):
            if entry["token"] == token:
                return entry["id"]
        return None

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return str(self._status(external_id)["state"])

    def is_job_active(self, status: str) -> bool:
        return status in ("STARTING", "RUNNING")

    def is_job_succeeded(self, status: str) -> bool:
        return status == "SUCCEEDED"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        _emit(event="polling", job=external_id, try_number=context.get("try_number"))
        while True:
            state = self._status(external_id)["state"]
            if state == "SUCCEEDED":
                return
            if not self.is_job_active(state):
                raise RuntimeError(f"job {external_id} ended {state}")
            time.sleep(0.05)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return self._status(external_id).get("result")

    def cancel_job(self, external_id: Any, context: Any) -> None:
        pid = self._status(external_id).get("pid")
        if isinstance(pid, int):
            os.kill(pid, signal.SIGTERM)


def _ledger(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "submissions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class _DecisionsToStdout(logging.Handler):
    """Forwards the mixin's decision log lines (their key=value fields) to the demo."""

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "resumable", None)
        if isinstance(fields, dict) and "decision" in fields:
            _emit(event="decision", message=record.getMessage().split(" decision=")[0], **fields)


def worker_main() -> None:
    """A worker process: ``python -c BOOT STORE_URL RUN_ID WORKDIR STEPS STEP_SECONDS``."""
    store_url, run_id, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    steps, step_seconds = int(sys.argv[4]), float(sys.argv[5])
    jobs_log = logging.getLogger("resumable.jobs")
    jobs_log.addHandler(_DecisionsToStdout())
    jobs_log.setLevel(logging.INFO)
    with open_store(store_url) as store:
        job = LocalProcessJob(workdir, steps=steps, step_seconds=step_seconds)
        result = run_job(job, store=store.scope(NAMESPACE, run_id))
    _emit(event="result", result=result)


class _Worker:
    """A worker child process and the events it prints, read on a background thread."""

    def __init__(self, number: int, args: list[str]) -> None:
        self.number = number
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "output", "line": line.rstrip()})

    def _drain(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self.stderr.extend(stream)

    def next_events(self) -> list[dict[str, Any]]:
        found = []
        while True:
            try:
                found.append(self.events.get_nowait())
            except queue.Empty:
                return found


def _job_progress(workdir: Path, external_id: str | None) -> tuple[int, str]:
    if external_id is None:
        return 0, "STARTING"
    try:
        status = json.loads((workdir / f"{external_id}.json").read_text())
    except (FileNotFoundError, ValueError):
        return 0, "STARTING"
    return int(status.get("done", 0)), str(status.get("state", "?"))


class _Demo:
    def __init__(self, console: Console, store_url: str, steps: int, step_seconds: float) -> None:
        self.console = console
        self.store_url = store_url
        self.run_id = f"demo-{uuid.uuid4().hex[:8]}"
        self.workdir = Path(tempfile.mkdtemp(prefix="resumable-demo-"))
        self.steps = steps
        self.step_seconds = step_seconds
        self.job_id: str | None = None
        self.decisions: list[str] = []
        self.result: Any = None
        self.workers: list[_Worker] = []

    def start_worker(self) -> _Worker:
        args = [
            self.store_url,
            self.run_id,
            str(self.workdir),
            str(self.steps),
            str(self.step_seconds),
        ]
        worker = _Worker(len(self.workers) + 1, args)
        self.workers.append(worker)
        self.console.print(
            f"[bold cyan]>[/] worker {worker.number} started (pid {worker.process.pid})"
        )
        return worker

    def handle(self, worker: _Worker, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "decision":
            self.decisions.append(str(event["decision"]))
            status = f", status {event['status']}" if "status" in event else ""
            self.console.print(
                f"  worker {worker.number} decision: [bold]{event['decision']}[/]{status}"
            )
        elif kind == "submitted":
            self.job_id = str(event["job"])
            self.console.print(
                f"  worker {worker.number} submitted [bold]{self.job_id}[/] "
                f"(detached process pid {event['pid']})"
            )
        elif kind == "polling":
            self.job_id = str(event["job"])
            self.console.print(f"  worker {worker.number} polling {self.job_id}")
        elif kind == "result":
            self.result = event["result"]

    def run(self, progress: Progress) -> None:
        bar = progress.add_task("external job", total=self.steps)
        deadline = time.monotonic() + DEADLINE
        first = self.start_worker()
        polled = False
        while True:  # worker 1: submit, start polling, get killed part-way
            for event in first.next_events():
                self.handle(first, event)
                polled = polled or event.get("event") == "polling"
            done, _ = _job_progress(self.workdir, self.job_id)
            progress.update(bar, completed=done, description=f"external job {self.job_id or ''}")
            if polled and done >= self.steps * KILL_AT:
                break
            if first.process.poll() is not None:
                raise click.ClickException(f"worker 1 exited early: {''.join(first.stderr)[-500:]}")
            self._check(deadline)
            time.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        self.console.print(
            f"[bold red]x[/] worker 1 (pid {first.process.pid}) killed with SIGKILL while polling, "
            f"at {done}/{self.steps}; the external job keeps running"
        )
        second = self.start_worker()
        while second.process.poll() is None or not second.events.empty():
            for event in second.next_events():
                self.handle(second, event)
            done, _ = _job_progress(self.workdir, self.job_id)
            progress.update(bar, completed=done)
            self._check(deadline)
            time.sleep(0.05)
        if second.process.returncode != 0:
            raise click.ClickException(f"worker 2 failed: {''.join(second.stderr)[-500:]}")
        progress.update(bar, completed=self.steps)

    def _check(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise click.ClickException(f"the demo did not finish within {DEADLINE:.0f} s")

    def cleanup(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        for entry in _ledger(self.workdir):  # an interrupted demo leaves no job running
            status_path = self.workdir / f"{entry['id']}.json"
            try:
                if json.loads(status_path.read_text()).get("state") != "SUCCEEDED":
                    os.kill(int(entry["pid"]), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


@click.command()
@click.option("--url", default=None, metavar="URL", help="Store URL (default: embedded SQLite).")
def demo(url: str | None) -> None:
    """Kill a worker mid-job and watch the next one reconnect (no server, no config)."""
    console = Console()
    store_url = url or default_store_url()
    if store_url.split(":", 1)[0].lower() == "memory":
        raise click.BadParameter("the demo's workers are separate processes: use a shared store")
    persistent(store_url, "--url")  # in-memory SQLite, the same
    started = time.monotonic()
    with open_store(store_url) as store:
        shown_url = store.url
    state = _Demo(console, store_url, STEPS, STEP_SECONDS)
    console.rule("[bold]resumable demo[/]: a job that survives its worker")
    console.print(f"store [bold]{shown_url}[/]  scope {NAMESPACE}/{state.run_id}")
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            state.run(progress)
        submissions = len(_ledger(state.workdir))
    finally:
        state.cleanup()
    elapsed = time.monotonic() - started
    with open_store(store_url) as store:
        store.scope(NAMESPACE, state.run_id).clear()
    reconnected = state.decisions[-1:] == ["reconnect"]
    console.print(f"[bold green]v[/] job finished; result {json.dumps(state.result)}")
    table = Table(title="summary", show_header=False)
    table.add_row("job id", str(state.job_id))
    table.add_row("submissions", str(submissions))
    second = "reconnected" if reconnected else f"decided {state.decisions[-1:]}"
    table.add_row("attempts", f"{len(state.workers)} (worker 1 killed, worker 2 {second})")
    table.add_row("decisions", ", ".join(state.decisions))
    table.add_row("elapsed", f"{elapsed:.1f} s")
    console.print(table)
    if submissions != 1 or not reconnected or state.result is None:
        raise click.ClickException("the job was not resumed as expected (see the summary above)")
    console.print(
        f"submissions = {submissions}, attempts = {len(state.workers)}: "
        "the second worker reconnected to the same job instead of submitting another."
    )
