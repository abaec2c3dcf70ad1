"""The process-wide registry of task definitions, by name.

A stored row names its task, and nothing else: a worker process (``resumable worker``,
a Celery worker) runs a row by looking its name up here, among the ``@task`` functions
imported in that process, and claims only rows whose names it has. So a name must mean
one function per process, which :func:`register` enforces when ``@task`` runs.

Deciding that two definitions are "the same function" is the subtle part, kept here
apart from the decorator: a module may be imported twice (reloaded, imported by a test
and again by a script), and Airflow imports a DAG file as
``unusual_prefix_<hash>_<file>`` beside any plain import of it, so a module-qualified
default name alone would call one function two.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

from resumable._errors import ConfigurationError
from resumable.tasks._runtime import Definition

log = logging.getLogger("resumable.tasks")

_registry: dict[str, Definition] = {}
_registry_lock = threading.Lock()


def registered(name: str) -> Definition:
    """The task definition registered under ``name`` (for worker processes).

    Raises:
        ConfigurationError: no ``@task`` of that name was imported in this process.
    """
    with _registry_lock:
        definition = _registry.get(name)
    if definition is None:
        hint = ""
        if "." not in name:
            # Default names became module-qualified: rows of earlier versions keep
            # the bare function name, which only an explicit name= registers now.
            hint = f" (a bare name from an earlier version? keep it with @task(name={name!r}))"
        raise ConfigurationError(
            f"no @task named {name!r} is registered in this process; import the module "
            f"that defines it{hint}"
        )
    return definition


def registered_names() -> list[str]:
    """Names of every ``@task`` registered in this process."""
    with _registry_lock:
        return list(_registry)


def register(definition: Definition) -> None:
    """Add ``definition`` under its name; a name holds one function per process.

    The same function defined again (same module and qualified name: a reloaded
    module, a test importing it twice, a script that imports itself; or the same
    qualified name at the same line of the same file under another module name, as
    Airflow loads DAG files) replaces the earlier definition; any other function
    already holding the name is an error.
    """
    with _registry_lock:
        taken = _registry.get(definition.name)
        if taken is not None and not (
            taken.fn is definition.fn
            or (definition.origin is not None and taken.origin == definition.origin)
            or _same_source(taken.fn, definition.fn)
        ):
            raise ConfigurationError(
                f"@task name {definition.name!r} is already taken by "
                f"{taken.origin or taken.fn!r}; {definition.origin or definition.fn!r} "
                "needs another name= (task names are unique per process)"
            )
        if taken is not None:
            log.debug("task %r redefined; the newest definition wins", definition.name)
        _registry[definition.name] = definition


def _same_source(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """Whether two functions are one definition in one file, loaded under two module
    names. Airflow imports a DAG file as ``unusual_prefix_<hash>_<file>`` beside any plain
    import of it in the same process, so the module part of the name cannot decide."""
    code_a = getattr(inspect.unwrap(a), "__code__", None)
    code_b = getattr(inspect.unwrap(b), "__code__", None)
    if code_a is None or code_b is None:
        return False
    return (
        getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and code_a.co_filename == code_b.co_filename
        and code_a.co_firstlineno == code_b.co_firstlineno
    )
