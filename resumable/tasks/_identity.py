"""Who a task *is*: its dedup identity and the checkpoint scope it owns (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from resumable._errors import ConfigurationError
from resumable.tasks._models import MAX_KEY_LENGTH, TaskScope

STATE_NAMESPACE_PREFIX = "resumable.task:"


def identity_parts(name: str, scope: TaskScope, task_key: str, user: str | None) -> list[str]:
    """The parts that make two keyed calls "the same task" for ``scope``.

    PRIVATE tasks include the user (two users never share one); SHARED and SYSTEM tasks
    are one per name + key.
    """
    owner = (user or "") if scope is TaskScope.PRIVATE else ""
    return [scope.value, name, task_key, owner]


def dedup_key(name: str, scope: TaskScope, task_key: str | None, user: str | None) -> str | None:
    """The value of the unique ``active_dedup_key`` column, or None for unkeyed tasks.

    A fixed-length digest: keys may be long, and a unique index wants short values.

    Raises:
        ConfigurationError: a SHARED task without ``task_key``.
    """
    if task_key is None:
        if scope is TaskScope.SHARED:
            raise ConfigurationError(
                f"task {name!r} is SHARED: pass options=TaskOptions(task_key=...) so "
                "subscribers can find it"
            )
        return None
    encoded = json.dumps(identity_parts(name, scope, task_key, user), separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def state_scope(
    name: str, scope: TaskScope, task_key: str | None, user: str | None, task_uuid: str
) -> tuple[str, str]:
    """The (namespace, scope key) of the task's ``ctx.store``.

    Keyed tasks use their dedup identity, so a re-run after FAILURE finds what the failed
    run wrote; unkeyed tasks use their uuid (each call is a task of its own).
    """
    namespace = STATE_NAMESPACE_PREFIX + name
    if len(namespace) > MAX_KEY_LENGTH:
        namespace = STATE_NAMESPACE_PREFIX + hashlib.sha256(name.encode()).hexdigest()
    if task_key is None:
        return namespace, task_uuid
    owner = (user or "") if scope is TaskScope.PRIVATE else ""
    key = json.dumps([scope.value, owner, task_key], separators=(",", ":"))
    if len(key) > MAX_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return namespace, key


AmbientScope = Callable[[str, "str | None"], "tuple[str, str] | None"]
"""``(task name, task_key) -> (namespace, scope key)`` of ``ctx.store``, or None."""

_ambient_scopes: list[AmbientScope] = []


def register_ambient_state_scope(provider: AmbientScope) -> None:
    """Add ``provider``, asked for the ``ctx.store`` scope before the task's own identity.

    Integrations that run tasks inside a host's unit of work use it: ``resumable.airflow``
    registers a provider that scopes the store of a task called inside an Airflow task to
    that task instance, so an Airflow retry resumes from the checkpoints of the try
    before. The integration registers itself (this layer knows nothing about it).
    Registering the same provider twice has no effect.
    """
    if provider not in _ambient_scopes:
        _ambient_scopes.append(provider)


def ambient_state_scope(name: str, task_key: str | None) -> tuple[str, str] | None:
    """The first registered provider's scope for this task, or None."""
    for provider in _ambient_scopes:
        found = provider(name, task_key)
        if found is not None:
            return found
    return None
