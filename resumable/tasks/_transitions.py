"""The task state machine as data: the single source of truth for allowed moves.

The repository turns every move into ``UPDATE … WHERE status IN (sources_of(target))``,
so a move that this table does not allow can never be written, and two concurrent
moves out of one status cannot both succeed (first writer wins).
"""

from __future__ import annotations

from resumable.tasks._models import TaskStatus

S = TaskStatus

ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    # Claimed by a runner, or cancelled before it ever started.
    S.PENDING: frozenset({S.IN_PROGRESS, S.ABORTED}),
    # Finished, failed, asked to stop (cancel or timeout), or sent back for a retry.
    S.IN_PROGRESS: frozenset({S.SUCCESS, S.FAILURE, S.ABORTING, S.PENDING}),
    # Abort handlers ran: aborted by a user, timed out, or a handler raised.
    S.ABORTING: frozenset({S.ABORTED, S.TIMED_OUT, S.FAILURE}),
    S.SUCCESS: frozenset(),
    S.FAILURE: frozenset(),
    S.ABORTED: frozenset(),
    S.TIMED_OUT: frozenset(),
}

ACTIVE: frozenset[TaskStatus] = frozenset({S.PENDING, S.IN_PROGRESS, S.ABORTING})
"""Statuses that hold a dedup key: the task may still run or is stopping."""

TERMINAL: frozenset[TaskStatus] = frozenset(s for s, moves in ALLOWED.items() if not moves)
"""Statuses a task never leaves."""

ABORT_REASON_CANCEL = "cancel"
ABORT_REASON_TIMEOUT = "timeout"


def can_move(source: TaskStatus, target: TaskStatus) -> bool:
    """Whether the table allows ``source -> target``."""
    return target in ALLOWED[source]


def sources_of(target: TaskStatus) -> tuple[TaskStatus, ...]:
    """Every status from which ``target`` may be reached, in a stable order."""
    return tuple(s for s in TaskStatus if target in ALLOWED[s])


def is_terminal(status: TaskStatus) -> bool:
    """Whether ``status`` is final."""
    return status in TERMINAL


def is_active(status: TaskStatus) -> bool:
    """Whether ``status`` still holds the dedup key."""
    return status in ACTIVE


def status_after_abort(reason: str | None, handler_failed: bool) -> TaskStatus:
    """The final status of an ABORTING task once its handlers have run."""
    if handler_failed:
        return S.FAILURE
    return S.TIMED_OUT if reason == ABORT_REASON_TIMEOUT else S.ABORTED


def should_retry(attempt: int, retries: int) -> bool:
    """Whether a failed ``attempt`` (1-based) leaves one of ``retries`` re-runs."""
    return attempt <= retries
