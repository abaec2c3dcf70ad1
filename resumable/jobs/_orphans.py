"""What a stale attempt does with the job it has just submitted: no orphan after a pause.

Runner A saves its intent and freezes (SIGSTOP, a long GC pause, a VM migration); runner
B starts a newer attempt, which fences A off, and takes over. When A wakes up inside or
just before ``submit_job``, the external system may accept A's job, but A's write of the
id then fails with :class:`~resumable.StaleAttemptError`. Before raising it, A settles
the job it submitted, going by what the newer attempt recorded:

- the record names A's job: the newer attempt adopted it (``find_job`` found it by its
  token), so A leaves it alone (``resumable_job.orphan_adopted``);
- the record names another job, or a different token (a new submission cycle that can
  never find A's job): A cancels its job (``resumable_job.orphan_cancelled``);
- the record names no job yet but carries A's token: the newer attempt is itself inside
  ``submit_job`` or ``find_job``. A waits for it to record a job (``ORPHAN_WAIT_SECONDS``
  at most) and decides as above. If none is ever recorded, the newer attempt died too:
  a job that implements ``find_job`` is left for the next try to adopt by its token, any
  other is cancelled, since nothing could ever find it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from resumable._errors import StaleAttemptError
from resumable.jobs import _observability as obs
from resumable.jobs._cancel import cancel_quietly
from resumable.jobs._decision import JobRecord
from resumable.jobs._store_access import KeyValueStore, read_record

ORPHAN_WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.25


def settle_stale_submission(
    job: Any,
    store: KeyValueStore,
    submitted: JobRecord,
    context: Mapping[str, Any],
    error: StaleAttemptError,
    *,
    findable: bool,
) -> None:
    """Cancel or leave the job ``submitted`` names, after its id write raised ``error``.

    ``findable``: the job implements ``find_job``, so a later try can adopt a job that
    no attempt recorded. Never raises: the caller re-raises ``error``. Reads go through
    the stale handle, which fencing allows.
    """
    operator = type(job).__name__
    external_id = submitted.external_id
    with obs.stale_span(operator, job.external_id_key, external_id) as span:
        try:
            current = _wait_for_named_job(store, job.external_id_key, submitted.token)
        except Exception as exc:  # an unreadable store: cancelling is the safe side
            obs.event(
                logging.ERROR,
                "could not read the newer attempt's record; cancelling this attempt's job",
                operator=operator,
                external_id=external_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            current = None
        outcome = _outcome(submitted, current, findable=findable)
        fields = {
            "operator": operator,
            "external_id": external_id,
            "attempt": error.attempt,
            "newer_attempt": error.current,
            "recorded_id": None if current is None else current.external_id,
        }
        if outcome == obs.ORPHAN_ADOPTED:
            obs.event(
                logging.WARNING,
                "stale attempt: a newer attempt adopted the job this one submitted; "
                "leaving it running",
                **fields,
            )
        elif outcome == obs.ORPHAN_LEFT:
            obs.event(
                logging.WARNING,
                "stale attempt: the newer attempt recorded no job; leaving this one's job "
                "for the next try to find by its token",
                token=submitted.token,
                **fields,
            )
        else:
            cancel_quietly(job, external_id, context, reason="stale attempt (orphan)")
        obs.count(outcome, operator)
        span.add_event(outcome, {k: str(v) for k, v in fields.items()})
        span.set_attribute("resumable.orphan_outcome", outcome)


def _outcome(submitted: JobRecord, current: JobRecord | None, *, findable: bool) -> str:
    if current is not None and current.has_id:
        if current.external_id == submitted.external_id:
            return obs.ORPHAN_ADOPTED
        return obs.ORPHAN_CANCELLED
    if findable and current is not None and current.token == submitted.token:
        return obs.ORPHAN_LEFT
    return obs.ORPHAN_CANCELLED


def _wait_for_named_job(store: KeyValueStore, key: str, token: str | None) -> JobRecord | None:
    """The current record, once it names a job or stops carrying ``token``."""
    deadline = time.monotonic() + ORPHAN_WAIT_SECONDS
    while True:
        current = read_record(store, key, check_legacy=False)
        if current is None or current.has_id or current.token != token:
            return current
        if time.monotonic() >= deadline:
            return current
        time.sleep(_POLL_SECONDS)
