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
from collections.abc import Mapping
from typing import Any

from resumable.jobs._observability import event, logger_of

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
            logger=logger_of(job),
            operator=operator,
            external_id=external_id,
            reason=reason,
            error=f"{type(exc).__name__}: {exc}",
        )
        return False
    event(
        logging.WARNING,
        "cancelled external job",
        logger=logger_of(job),
        operator=operator,
        external_id=external_id,
        reason=reason,
    )
    return True


def is_final_failure(exc: BaseException, context: Any) -> bool:
    """Whether ``exc`` ends the run for good: no retry will follow it.

    Reads Airflow's numbers from ``context["ti"]`` (or ``try_number`` / ``max_tries``
    entries of the context): Airflow retries while ``max_tries != 0 and try_number <=
    max_tries``. Unknown numbers count as not final, since cancelling a job that a
    retry would reconnect to is worse than leaving one running.
    """
    if not isinstance(exc, Exception):
        return False  # KeyboardInterrupt, SystemExit: cancel triggers decide those
    ti = context.get("ti") if isinstance(context, Mapping) else None
    numbers = []
    for name in ("try_number", "max_tries"):
        value = context.get(name) if isinstance(context, Mapping) else None
        value = getattr(ti, name, None) if value is None else value
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        numbers.append(value)
    try_number, max_tries = numbers
    return not (max_tries != 0 and try_number <= max_tries)
