"""Who may see and cancel which task (pure functions over a record and an actor).

The rules follow Superset's GTF: creators are subscribers, so visibility is a matter
of subscription, except that admins and the system (code running outside
``acting_as``) see everything.
"""

from __future__ import annotations

from typing import Literal

import attrs

from resumable._errors import PermissionDeniedError
from resumable.tasks._models import TaskRecord, TaskScope

CancelAction = Literal["abort", "unsubscribe"]


@attrs.frozen
class Actor:
    """The caller: a user (``user_id``), possibly an admin, or the system (no user).

    The system is a trusted backend process: it sees and may cancel every task.
    """

    user_id: str | None = None
    admin: bool = False

    @property
    def is_system(self) -> bool:
        """Whether the caller acts as no user at all."""
        return self.user_id is None

    @property
    def privileged(self) -> bool:
        """The system or an admin: sees every task."""
        return self.is_system or self.admin


SYSTEM_ACTOR = Actor()


def can_see(record: TaskRecord, actor: Actor) -> bool:
    """Whether ``actor`` may see ``record`` (else it behaves as missing).

    PRIVATE: its creator. SHARED: its subscribers. SYSTEM: admins, plus its subscribers
    (the non-admin creator sees it, but cannot cancel it).
    """
    if actor.privileged:
        return True
    if record.scope is TaskScope.PRIVATE:
        return record.created_by == actor.user_id
    return actor.user_id in record.subscribers


def cancel_action(record: TaskRecord, actor: Actor, *, force: bool) -> CancelAction:
    """Decide whether cancelling ``record`` aborts it or only unsubscribes ``actor``.

    Abort when the task is PRIVATE or SYSTEM, when the caller is the last subscriber of
    a SHARED task, when an admin forces it, or when the caller is the system; otherwise
    unsubscribe the caller.

    Raises:
        PermissionDeniedError: ``force`` without admin rights, a SYSTEM task without
            admin rights, or a shared task the caller is not subscribed to.
    """
    if force and not actor.privileged:
        raise PermissionDeniedError(
            "only admins may force-cancel a task (acting_as(..., admin=True))", record.uuid
        )
    if record.scope is TaskScope.SYSTEM and not actor.privileged:
        raise PermissionDeniedError("only admins may cancel a SYSTEM task", record.uuid)
    if actor.is_system or force or record.scope is not TaskScope.SHARED:
        return "abort"
    others = [user for user in record.subscribers if user != actor.user_id]
    if not others:
        return "abort"
    if actor.user_id not in record.subscribers:
        raise PermissionDeniedError(
            "you are not subscribed to this shared task; an admin may pass force=True",
            record.uuid,
        )
    return "unsubscribe"


def check_can_prune(actor: Actor) -> None:
    """Pruning deletes other users' history: the system or an admin only."""
    if not actor.privileged:
        raise PermissionDeniedError("only admins may prune tasks")
