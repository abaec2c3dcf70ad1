"""Time in one place: aware UTC moments, durations typed by people, and their wording.

Every timestamp resumable hands out is a pendulum ``DateTime`` in UTC (a ``datetime``
subclass, so code written for ``datetime`` keeps working). Durations people type on the
command line or in settings — ``7d``, ``12h``, ``1h30m``, ISO 8601 ``P7D`` / ``PT12H``,
or plain seconds — are parsed only by :func:`parse_duration`, so every option accepts the
same forms and rejects bad ones with the same message. Works with pendulum 2 (beside
Airflow 2) and pendulum 3.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum

from resumable._errors import ConfigurationError

UTC = pendulum.UTC

DURATION_FORMS = "like 90s, 15m, 12h, 7d, 2w, 1h30m, ISO 8601 P7D / PT12H, or seconds"
"""What :func:`parse_duration` accepts, for help texts and error messages."""

_UNIT_SECONDS = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
# One or more number+unit parts, largest unit first ("1h30m"), each unit at most once.
_COMPACT = re.compile(
    rf"(?:(?P<w>{_NUMBER})w)?(?:(?P<d>{_NUMBER})d)?(?:(?P<h>{_NUMBER})h)?"
    rf"(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?"
)


def now() -> pendulum.DateTime:
    """The current moment, aware, in UTC."""
    return pendulum.now(UTC)


def as_utc(moment: datetime) -> pendulum.DateTime:
    """``moment`` as an aware UTC pendulum ``DateTime``; a naive one is taken as UTC.

    The database stores UTC, and drivers hand naive values back for it (SQLite always,
    PostgreSQL for ``timestamp without time zone``).
    """
    zone = moment.tzinfo
    if zone is UTC and isinstance(moment, pendulum.DateTime):
        return moment
    if zone is not None and zone is not UTC and zone is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    # Built directly: every task snapshot converts three timestamps, and
    # pendulum.instance() costs ten times as much for the same value.
    return pendulum.DateTime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=UTC,
    )


def maybe_utc(moment: datetime | None) -> pendulum.DateTime | None:
    """:func:`as_utc`, passing None through."""
    return None if moment is None else as_utc(moment)


def parse_duration(value: Any, what: str | None = None, *, allow_zero: bool = False) -> float:
    """Seconds in a duration written by a person.

    Accepts ``90s``, ``15m``, ``12h``, ``7d``, ``2w`` and combinations largest unit
    first (``1h30m``); ISO 8601 durations (``P7D``, ``PT12H``, ``P1DT6H``; pendulum
    counts a month as 30 days and a year as 365); plain seconds (``3600``, ``0.5``);
    and, from code, numbers and ``timedelta``.

    Args:
        value: The text (or number, or timedelta).
        what: The option's name, leading the error message (none: the message starts
            with the value, for callers that name the option themselves).
        allow_zero: Whether a zero duration is allowed (else it must be positive).

    Raises:
        ConfigurationError: not a duration, negative, infinite, or zero when not allowed.
    """
    label = f"{what}: " if what else ""
    seconds = _seconds_of(value, label)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "a duration >= 0" if allow_zero else "a positive duration"
        raise ConfigurationError(f"{label}{value!r} must be {bound}")
    return seconds


def _seconds_of(value: Any, label: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise ConfigurationError(f"{label}{value!r} is not a duration ({DURATION_FORMS})")
    text = value.strip().lower()
    try:
        return float(text)  # plain seconds; NaN and infinities fail the caller's check
    except ValueError:
        pass
    try:
        return _words(text)
    except ValueError:
        message = f"{label}{value!r} is not a duration ({DURATION_FORMS})"
        raise ConfigurationError(message) from None


def _words(text: str) -> float:
    if text.startswith("p"):
        try:
            parsed = pendulum.parse(text.upper())
        except (ValueError, TypeError) as exc:  # pendulum's ParserError is a ValueError
            raise ValueError(text) from exc
        if not isinstance(parsed, timedelta):
            raise ValueError(text)
        return parsed.total_seconds()
    match = _COMPACT.fullmatch(text)
    if not text or match is None or not any(match.groupdict().values()):
        raise ValueError(text)
    return sum(
        float(amount) * _UNIT_SECONDS[unit]
        for unit, amount in match.groupdict().items()
        if amount is not None
    )


def duration_in_words(seconds: float | None, *, parts: int = 2) -> str:
    """``seconds`` in words, at most ``parts`` units: ``3 minutes 5 seconds``.

    ``-`` when unknown; ``less than a second`` below one second.
    """
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 1:
        return "less than a second"
    words = pendulum.duration(seconds=whole).in_words(locale="en").split()
    return " ".join(words[: 2 * parts])


def relative(moment: datetime | None, reference: datetime | None = None) -> str:
    """``moment`` relative to ``reference`` (default: now): ``3 minutes ago``, ``in 2 hours``.

    ``-`` when unknown, ``just now`` within a second.
    """
    if moment is None:
        return "-"
    delta = ((reference or now()) - moment).total_seconds()
    if abs(delta) < 1:
        return "just now"
    words = duration_in_words(abs(delta), parts=1)
    return f"{words} ago" if delta > 0 else f"in {words}"
