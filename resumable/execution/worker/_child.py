"""What runs inside a worker's child process: one claimed attempt of one task."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterable
from typing import Any

import attrs

from resumable import _config
from resumable.tasks import _services
from resumable.tasks._decorator import registered
from resumable.tasks._models import TaskStatus
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


def run_claimed(settings: _config.Settings, modules: tuple[str, ...], task_uuid: str) -> None:
    """Child-process entry: run the attempt of ``task_uuid`` its worker just claimed."""
    import_task_modules(modules)
    _config.configure(**attrs.asdict(settings, recurse=False))
    services = _services.current()
    try:
        record = services.repository.get(task_uuid, subscribers=False)
        if record is None or record.status is not TaskStatus.IN_PROGRESS:
            return  # cancelled or reaped between the claim and now
        try:
            definition = registered(record.name)
            args, kwargs = decode_arguments(services.leases.arguments(task_uuid))
        except (LookupError, ValueError) as exc:
            refuse(services, task_uuid, f"task {record.name!r} cannot run here: {exc}")
            return
        run_attempt(services, definition, task_uuid, args, kwargs, claimed=record)
    finally:
        _services.shutdown(wait=True)


def refuse(services: _services.Services, task_uuid: str, message: str) -> None:
    """End a claimed attempt as FAILURE without running it."""
    log.error("refusing task task_uuid=%s: %s", task_uuid, message)
    values = failure_fields([])
    values.update(error_message=message, exception_type="TaskNotRunnable")
    services.repository.move(
        task_uuid, TaskStatus.FAILURE, values, only_from=[TaskStatus.IN_PROGRESS]
    )
    services.signals.notify(task_uuid)
