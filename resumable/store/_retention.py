"""Retention: turning ``retention=`` arguments into an absolute expiry (pure functions)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from resumable._errors import InvalidValueError

DEFAULT_RETENTION: Final = timedelta(days=30)


class _NeverExpire:
    """Type of :data:`NEVER_EXPIRE`: keep the key until it is deleted or cleared."""

    _instance: _NeverExpire | None = None

    def __new__(cls) -> _NeverExpire:
        # One instance per process, also after unpickling, so `is` comparisons hold.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "resumable.NEVER_EXPIRE"

    def __reduce__(self) -> str:
        return "NEVER_EXPIRE"


NEVER_EXPIRE: Final = _NeverExpire()
"""Pass as ``retention=`` to keep a key until it is deleted or its scope cleared."""

Retention = timedelta | _NeverExpire | None


def validate_retention(retention: object, *, allow_none: bool = True) -> Retention:
    """Return ``retention`` if it is None, NEVER_EXPIRE or a positive timedelta, else raise."""
    if retention is None and allow_none:
        return None
    if retention is NEVER_EXPIRE:
        return NEVER_EXPIRE
    if isinstance(retention, timedelta):
        if retention <= timedelta(0):
            raise InvalidValueError(f"retention must be positive, got {retention!r}")
        return retention
    raise InvalidValueError(
        "retention must be a positive datetime.timedelta, resumable.NEVER_EXPIRE"
        f"{' or None' if allow_none else ''}, got {retention!r}"
    )


def expires_at(retention: Retention, default: Retention, now: datetime) -> datetime | None:
    """The moment a key written at ``now`` expires; None means never.

    ``retention=None`` falls back to the store's ``default`` (itself None = never).
    """
    chosen = default if retention is None else retention
    if chosen is None or chosen is NEVER_EXPIRE:
        return None
    assert isinstance(chosen, timedelta)
    try:
        return now + chosen
    except OverflowError:
        raise InvalidValueError(
            f"retention {chosen!r} reaches past the year 9999; "
            "use resumable.NEVER_EXPIRE to keep a key until it is deleted"
        ) from None
