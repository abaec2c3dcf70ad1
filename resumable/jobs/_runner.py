"""``run_job``: run a ResumableJobMixin job standalone, with retries that reconnect."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from resumable._errors import ConfigurationError, StaleAttemptError
from resumable.jobs._mixin import ResumableJobMixin
from resumable.jobs._observability import event
from resumable.store import TaskStateStore


def _validate(job: Any, store: Any, retries: Any, retry_delay: Any, context: Any) -> None:
    if not isinstance(job, ResumableJobMixin):
        raise ConfigurationError(
            f"run_job() needs a ResumableJobMixin instance, got {type(job).__name__}: {job!r}"
        )
    if not isinstance(store, TaskStateStore):
        raise ConfigurationError(
            "run_job(store=...) needs a TaskStateStore, e.g. "
            f"open_store(url).scope(namespace, scope_key); got {type(store).__name__}"
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be an int >= 0, got {retries!r}")
    if (
        isinstance(retry_delay, bool)
        or not isinstance(retry_delay, (int, float))
        or not math.isfinite(retry_delay)
        or retry_delay < 0
    ):
        raise ConfigurationError(
            f"retry_delay must be a number of seconds >= 0, got {retry_delay!r}"
        )
    if context is not None and not isinstance(context, Mapping):
        raise ConfigurationError(f"context must be a mapping or None, got {type(context).__name__}")


def run_job(
    job: ResumableJobMixin,
    *,
    store: TaskStateStore,
    retries: int = 0,
    retry_delay: float = 0.0,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Run ``job`` standalone and return its result (``get_job_result``).

    Each try gets a context holding ``task_state_store`` and ``try_number`` (1, 2, …)
    besides the entries of ``context``, and calls ``job.execute_resumable``. The store
    handle of a try is fenced (``store.new_attempt()``): once a later try — in this
    process or another — has started, a zombie earlier try can no longer write, so it
    cannot overwrite the recorded job. Because every try re-enters ``execute_resumable``,
    a retry (or a new process calling ``run_job`` with the same scope after a crash)
    reconnects to the job already submitted instead of submitting another.

    Args:
        job: The job, an instance of a :class:`resumable.ResumableJobMixin` subclass.
        store: The run's state, e.g. ``open_store(url).scope("pipeline", "run-1")``.
        retries: How many times to retry after a try raised an ``Exception``.
        retry_delay: Seconds to wait between tries.
        context: Extra context entries passed to the job's methods.

    Returns:
        The job's result.

    Raises:
        ConfigurationError: An argument is invalid; nothing is run or written.
        StaleAttemptError: Another runner started a newer attempt on the same scope and
            owns the run now; never retried.
        Exception: Whatever the last try raised.
    """
    _validate(job, store, retries, retry_delay, context)
    base = dict(context or {})
    operator = type(job).__name__
    for try_number in range(1, retries + 2):
        fenced = store.new_attempt()
        try_context = {**base, "task_state_store": fenced, "try_number": try_number}
        try:
            return job.execute_resumable(try_context)
        except StaleAttemptError:
            # A newer attempt (another process) owns the run now; retrying would start
            # yet another attempt and fence that one off in turn.
            raise
        except Exception as exc:
            if try_number > retries:
                raise
            event(
                logging.WARNING,
                "try failed; retrying",
                operator=operator,
                try_number=try_number,
                retries=retries,
                error=f"{type(exc).__name__}: {exc}",
            )
            time.sleep(retry_delay)
    raise AssertionError("unreachable: the last try returns or raises")  # pragma: no cover
