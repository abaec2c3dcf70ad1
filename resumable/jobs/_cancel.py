"""When the external job is cancelled, and cancelling without masking the real error.

A job is cancelled when its run is aborted, times out or is killed — never merely because
polling failed: a poll that dies of a network error leaves the job running, and the retry
reconnects to it. Which exceptions mean "aborted or timed out" depends on who runs the
job, so the list is open: ``KeyboardInterrupt`` (Ctrl-C on a standalone pipeline) by
default; a runner registers its own abort or timeout exception. Airflow needs none: it
calls ``on_kill`` on SIGTERM and after a timeout has unwound ``execute``.
"""

from __future__ import annotations

import logging
from typing import Any

from resumable.jobs._observability import event

_triggers: list[type[BaseException]] = [KeyboardInterrupt]


def register_cancel_trigger(exc_type: type[BaseException]) -> None:
    """Cancel the external job when ``exc_type`` (or a subclass) escapes submit or poll.

    Raises:
        TypeError: ``exc_type`` is not an exception class.
    """
    if not (isinstance(exc_type, type) and issubclass(exc_type, BaseException)):
        raise TypeError(f"register_cancel_trigger() takes an exception class, got {exc_type!r}")
    if exc_type not in _triggers:
        _triggers.append(exc_type)


def is_cancel_trigger(exc: BaseException) -> bool:
    """Whether ``exc`` means the run was aborted or timed out."""
    return isinstance(exc, tuple(_triggers))


def cancel_quietly(job: Any, external_id: Any, context: Any, reason: str) -> bool:
    """Call ``job.cancel_job(external_id, context)`` once per job id; log, never raise.

    Runs while another error (the abort, the timeout) is propagating or from ``on_kill``;
    a failing cancel must not replace that error, so its own failure is only logged.
    Returns whether ``cancel_job`` ran and returned normally.
    """
    if getattr(job, "_resumable_cancelled_id", None) == external_id:
        return False  # Airflow 2 calls on_kill after a timeout too: cancel once
    job._resumable_cancelled_id = external_id
    operator = type(job).__name__
    try:
        job.cancel_job(external_id, context)
    except Exception as exc:  # logged, not raised: see the docstring
        event(
            logging.ERROR,
            "cancel_job failed; the original error stands",
            operator=operator,
            external_id=external_id,
            reason=reason,
            error=f"{type(exc).__name__}: {exc}",
        )
        return False
    event(
        logging.WARNING,
        "cancelled external job",
        operator=operator,
        external_id=external_id,
        reason=reason,
    )
    return True
