"""The current user: ``acting_as(...)`` sets it, everything else reads it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from resumable._errors import ConfigurationError
from resumable.tasks._models import MAX_NAME_LENGTH
from resumable.tasks._permissions import SYSTEM_ACTOR, Actor

_actor: ContextVar[Actor] = ContextVar("resumable_actor", default=SYSTEM_ACTOR)


def current_actor() -> Actor:
    """Who is calling: the innermost ``acting_as`` user, else the system."""
    return _actor.get()


@contextmanager
def acting_as(user_id: str, *, admin: bool = False) -> Iterator[None]:
    """Act as ``user_id`` inside the block: tasks created belong to this user, and
    reads and cancels obey this user's visibility and permissions.

    Outside any ``acting_as`` the caller is the system, which sees and may cancel
    every task (like a trusted backend process).

    Args:
        user_id: The user's id (a non-empty str of at most 255 characters).
        admin: Whether the user is an admin (sees every task, may force-cancel).

    Raises:
        ConfigurationError: ``user_id`` is not a non-empty str.
    """
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"user_id must be a non-empty str of at most {MAX_NAME_LENGTH} characters, "
            f"got {user_id!r}"
        )
    if not isinstance(admin, bool):
        raise ConfigurationError(f"admin must be a bool, got {admin!r}")
    token = _actor.set(Actor(user_id, admin))
    try:
        yield
    finally:
        _actor.reset(token)


class running_as:
    """Internal: run a task body as the actor who created it (``with running_as(a):``).

    A class rather than a generator: it wraps every attempt, and a no-op task is
    short enough for the difference to show.
    """

    __slots__ = ("_actor", "_token")

    def __init__(self, actor: Actor) -> None:
        self._actor = actor
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = _actor.set(self._actor)

    def __exit__(self, *_: object) -> None:
        _actor.reset(self._token)
