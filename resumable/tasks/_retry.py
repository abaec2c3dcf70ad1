"""When a failed attempt is retried, and how long the next one waits (pure).

The waits come from tenacity's strategies rather than a formula of ours: tenacity is
the well-kept library stamina (and most of the ecosystem) builds its backoff on.
"""

from __future__ import annotations

import tenacity

BACKOFF_BASE_WHEN_ZERO = 1.0
"""Seconds of the first wait when ``retry_backoff=True`` but ``retry_delay`` is 0 (as
Celery's ``retry_backoff=True`` starts at one second)."""

BACKOFF_MAX = 600.0
"""Longest wait ``retry_backoff`` grows to (Celery's ``retry_backoff_max`` default),
unless ``retry_delay`` itself is longer."""

RetryOn = tuple[type[BaseException], ...]

_STATE_OWNER = tenacity.Retrying()
"""A retry state needs an owner; the strategies read only its attempt number."""


def is_retryable(error: BaseException | None, retry_on: RetryOn | None) -> bool:
    """Whether a failed attempt may be retried: always without ``retry_on``; with it,
    only when the body raised one of those exceptions (or a subclass)."""
    if retry_on is None:
        return True
    return error is not None and isinstance(error, retry_on)


def retry_wait(failed_attempt: int, retry_delay: float, backoff: bool) -> float:
    """Seconds between failed attempt ``failed_attempt`` (1-based) and the next.

    Without ``backoff``: ``retry_delay``. With it, tenacity's exponential wait with
    jitter: ``base * 2 ** (failed_attempt - 1)``, capped at :data:`BACKOFF_MAX` (or
    ``retry_delay`` when longer), plus a random share of up to one ``base``. So no wait is
    shorter than the one before it, and retries of many tasks failing together
    spread out.
    """
    if not backoff:
        return retry_delay
    base = retry_delay if retry_delay > 0 else BACKOFF_BASE_WHEN_ZERO
    # wait_exponential_jitter spells its base "initial" in tenacity 8 and "multiplier"
    # in 9; the sum of these two strategies is the same wait in every version.
    strategy = tenacity.wait_exponential(
        multiplier=base, max=max(BACKOFF_MAX, base), exp_base=2
    ) + tenacity.wait_random(0, base)
    state = tenacity.RetryCallState(_STATE_OWNER, None, (), {})
    state.attempt_number = failed_attempt
    return float(strategy(state))
