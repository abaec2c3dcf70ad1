"""What runs inside a worker's child processes: the claimed attempts, one at a time."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterable
from typing import Any

import attrs

from resumable import _config
from resumable.tasks import _services
from resumable.tasks._lease_repository import Claimed
from resumable.tasks._models import TaskStatus
from resumable.tasks._registry import registered
from resumable.tasks._runtime import failure_fields, run_attempt

log = logging.getLogger("resumable.worker")


def import_task_modules(modules: Iterable[str]) -> None:
    """Import the modules that define the worker's ``@task`` functions."""
    for module in modules:
        importlib.import_module(module)


def decode_arguments(arguments: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The ``(args, kwargs)`` a task was scheduled with.

    Raises:
        ValueError: they were not stored as JSON (scheduled in memory only).
    """
    if arguments is None:
        raise ValueError(
            "its arguments were not stored (they were not JSON when it was scheduled), "
            "so no worker process can run it"
        )
    decoded = json.loads(arguments)
    return tuple(decoded.get("args", ())), dict(decoded.get("kwargs", {}))


class ChildRunner:
    """Runs the attempts a worker hands to one long-lived child, one at a time.

    Built once per child (:func:`prepare_child`): the task modules are imported and the
    task framework configured once, so an attempt costs its own statements only.
    """

    def __call__(self, task_uuid: str, claimed: Claimed | None = None) -> bool:
        return run_here(_services.current(), task_uuid, claimed)

    def close(self) -> None:
        """Release the child's connections and threads (the child is exiting)."""
        _services.shutdown(wait=True)


def prepare_child(settings: _config.Settings, modules: tuple[str, ...]) -> ChildRunner:
    """Child-process set-up: import the task modules, configure as the worker is."""
    import_task_modules(modules)
    _config.configure(**attrs.asdict(settings, recurse=False))
    return ChildRunner()


def run_here(services: _services.Services, task_uuid: str, claimed: Claimed | None = None) -> bool:
    """Run the attempt of ``task_uuid`` that this process's worker just claimed.

    ``claimed``: the row as the worker's claim returned it (the child reads nothing
    then); None: read it here. A cancel that lands between the claim and now finds
    the task IN_PROGRESS and reaches it as any abort does; a reaper cannot have taken
    it (the claim was its first heartbeat), and the final move checks the attempt.

    Returns True when the attempt needs no further look from the worker: it made its
    final move (or was no longer this worker's to run). False: it may be unfinished.
    """
    if claimed is not None:
        record, arguments = claimed.record(), claimed.arguments
    else:
        found = services.repository.get_to_run(task_uuid)
        if found is None or found[0].status is not TaskStatus.IN_PROGRESS:
            return True  # cancelled or reaped between the claim and now
        record, arguments = found
    try:
        definition = registered(record.name)
        args, kwargs = decode_arguments(arguments)
    except (LookupError, ValueError) as exc:
        refuse(services, task_uuid, f"task {record.name!r} cannot run here: {exc}")
        return True
    return run_attempt(services, definition, task_uuid, args, kwargs, claimed=record) is not None


def run_claimed(settings: _config.Settings, modules: tuple[str, ...], task_uuid: str) -> None:
    """Run one claimed attempt in a process of its own (set up, run, release)."""
    runner = prepare_child(settings, modules)
    try:
        runner(task_uuid)
    finally:
        runner.close()


def refuse(services: _services.Services, task_uuid: str, message: str) -> None:
    """End a claimed attempt as FAILURE without running it."""
    log.error("refusing task task_uuid=%s: %s", task_uuid, message)
    values = failure_fields([])
    values.update(error_message=message, exception_type="TaskNotRunnable")
    services.repository.move(
        task_uuid, TaskStatus.FAILURE, values, only_from=[TaskStatus.IN_PROGRESS]
    )
    services.signals.notify(task_uuid)
