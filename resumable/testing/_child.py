"""One run of a job under the conformance kit: ``python -m resumable.testing._child SPEC``.

``SPEC`` is a JSON file the kit wrote: where to find the job factory (a pickle beside
it), the store and scope, the event file, and the mode:

- ``run``: ``resumable.run_job`` the job once, recording every call the mixin makes;
- ``die_after_submit``: the same, but SIGKILL this process as soon as ``submit_job``
  returned (the external system has the job; the mixin has not saved its id yet);
- ``status``: ask ``get_job_status`` for ``external_id`` until the job is no longer
  active (used after a cancel, to see that the job really stopped).

The kit kills this process from outside for the "while polling" scenarios.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import runpy
import signal
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resumable.testing._events import EventWriter

# The methods the kit watches: the mixin's calls into the external system.
WATCHED = (
    "submit_job",
    "get_job_status",
    "poll_until_complete",
    "get_job_result",
    "find_job",
    "cancel_job",
)


def _load_factory(spec: dict[str, Any], folder: Path) -> Callable[[], Any]:
    main_file = spec.get("main_file")
    if main_file:
        # As multiprocessing's spawn does: a factory defined in the parent's __main__
        # script is found by running that script under another name (its
        # `if __name__ == "__main__":` block stays quiet) and calling it __main__.
        module = types.ModuleType("__mp_main__")
        module.__dict__.update(runpy.run_path(main_file, run_name="__mp_main__"))
        sys.modules["__main__"] = sys.modules["__mp_main__"] = module
    factory: Callable[[], Any] = pickle.loads((folder / "factory.pickle").read_bytes())
    return factory


def _instrument(job: Any, events: EventWriter, *, die_after_submit: bool) -> None:
    """Shadow each watched method on the instance with one that records its calls."""
    for name in WATCHED:
        original = getattr(job, name)

        def watched(*args: Any, _name: str = name, _original: Any = original) -> Any:
            subject = args[0] if len(args) > 1 else None  # external id or token
            fields: dict[str, Any] = {"method": _name, "subject": subject}
            if _name == "submit_job":
                fields["token"] = job.idempotency_token(args[0] if args else None)
            events.write("call", **fields)
            try:
                value = _original(*args)
            except BaseException as exc:
                events.write("raise", method=_name, error=f"{type(exc).__name__}: {exc}")
                raise
            events.write("return", method=_name, value=value)
            if _name == "submit_job" and die_after_submit:
                os.kill(os.getpid(), signal.SIGKILL)
            return value

        setattr(job, name, watched)


class _DecisionRecorder(logging.Handler):
    """Turns the mixin's decision log lines into events."""

    def __init__(self, events: EventWriter) -> None:
        super().__init__(logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "resumable", None)
        if isinstance(fields, dict) and "decision" in fields:
            self.events.write("decision", value=fields["decision"])


def _watch_status(job: Any, spec: dict[str, Any], events: EventWriter) -> int:
    context = {"try_number": 1}
    while True:
        status = job.get_job_status(spec["external_id"], context)
        active = bool(job.is_job_active(status))
        succeeded = not active and bool(job.is_job_succeeded(status))
        events.write("status", value=status, active=active, succeeded=succeeded)
        if not active:
            return 0
        time.sleep(0.2)


def main(spec_path: str) -> int:
    """Run one mode of the kit; the exit code is 0 for success."""
    folder = Path(spec_path).parent
    spec = json.loads(Path(spec_path).read_text())
    for entry in reversed(spec["sys_path"]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    # A child started from a shell in the background may inherit SIGINT ignored; the
    # cancel scenario needs Ctrl-C's KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    events = EventWriter(Path(spec["events"]))
    events.write("started", pid=os.getpid())

    import resumable

    try:
        job = _load_factory(spec, folder)()
    except Exception as exc:
        events.write("factory_failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if not isinstance(job, resumable.ResumableJobMixin):
        events.write("factory_failed", error=f"make_job returned {type(job).__name__}")
        return 2
    if spec["mode"] == "status":
        return _watch_status(job, spec, events)
    _instrument(job, events, die_after_submit=spec["mode"] == "die_after_submit")
    logging.getLogger("resumable.jobs").addHandler(_DecisionRecorder(events))
    if spec.get("go_file"):
        # Started ahead of time (imports done, job built); run the moment the kit says.
        events.write("ready")
        while not os.path.exists(spec["go_file"]):
            time.sleep(0.005)
    with resumable.open_store(spec["store_url"]) as store:
        scope = store.scope(spec["namespace"], spec["scope_key"])
        try:
            result = resumable.run_job(job, store=scope)
        except KeyboardInterrupt:
            events.write("interrupted")
            return 130
        except Exception as exc:
            events.write("failed", error=f"{type(exc).__name__}: {exc}")
            return 1
    events.write("result", value=result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
