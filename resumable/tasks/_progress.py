"""Progress values, payloads, ETA and write throttling.

The pure core (:func:`normalize_progress`, :func:`validate_payload`, :func:`eta_seconds`,
:class:`Throttle`) takes time as an argument; :class:`ProgressReporter` is the thin
shell that owns a timer thread and calls the database.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from resumable._errors import InvalidValueError


@attrs.frozen
class ProgressValue:
    """A normalized progress report."""

    current: float | None
    total: float | None
    fraction: float | None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InvalidValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def normalize_progress(progress: Any) -> ProgressValue:
    """Turn ``(current, total)``, a float in 0..1, or an int count into one shape.

    Raises:
        InvalidValueError: wrong type, negative, NaN, a fraction outside 0..1, a total
            of zero, or ``current > total``.
    """
    if isinstance(progress, tuple):
        if len(progress) != 2:
            raise InvalidValueError(f"progress tuple must be (current, total), got {progress!r}")
        current = _number(progress[0], "progress current")
        total = _number(progress[1], "progress total")
        if total == 0:
            raise InvalidValueError("progress total must be greater than 0")
        if current > total:
            raise InvalidValueError(f"progress current {current:g} exceeds total {total:g}")
        return ProgressValue(current, total, current / total)
    if isinstance(progress, float):
        fraction = _number(progress, "progress fraction")
        if fraction > 1.0:
            raise InvalidValueError(f"progress fraction must be within 0..1, got {progress!r}")
        return ProgressValue(None, None, fraction)
    if isinstance(progress, int) and not isinstance(progress, bool):
        return ProgressValue(_number(progress, "progress count"), None, None)
    raise InvalidValueError(
        "progress must be (current, total), a float in 0..1 or an int count, "
        f"got {type(progress).__name__}"
    )


def validate_payload(payload: Any) -> str:
    """The canonical JSON text of a payload dict.

    Raises:
        InvalidValueError: not a dict with str keys, or not JSON (NaN, sets, objects…).
    """
    if not isinstance(payload, dict):
        raise InvalidValueError(f"payload must be a dict, got {type(payload).__name__}")
    try:
        return json.dumps(payload, allow_nan=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"payload is not JSON: {exc}") from exc


def eta_seconds(
    elapsed: float, fraction: float | None, start_fraction: float = 0.0
) -> float | None:
    """Seconds left, extrapolating the rate since the attempt started.

    ``start_fraction`` is where this attempt started (a resumed attempt does not
    redo what earlier ones did, so only its own progress counts toward the rate).
    None when the rate is unknown (no fraction, or no progress yet).
    """
    if fraction is None:
        return None
    if fraction >= 1.0:
        return 0.0
    done = fraction - start_fraction
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed * (1.0 - fraction) / done


class Throttle:
    """Decides when progress may be written: at most once per ``interval`` seconds.

    The first offer is written at once; later offers within the window are coalesced
    and the newest is due at the end of the window.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last_write: float | None = None

    def due_now(self, now: float) -> bool:
        """Whether a write offered at ``now`` may happen immediately."""
        return self._last_write is None or now - self._last_write >= self.interval

    def window_end(self) -> float:
        """When the current window closes (the trailing write's time)."""
        return (self._last_write or 0.0) + self.interval

    def wrote(self, now: float) -> None:
        """Record a write at ``now``."""
        self._last_write = now


Write = Callable[[dict[str, Any]], None]


class ProgressReporter:
    """Coalesces ``update_task`` calls into throttled database writes.

    Args:
        write: Writes a dict of task columns (progress and/or payload).
        interval: The throttle window in seconds.

    No ETA is written: readers compute it from the attempt's start and the fraction
    (see :class:`~resumable.tasks._models.Progress`), so it stays true while a task stalls.
    """

    def __init__(self, write: Write, *, interval: float) -> None:
        self._write = write
        self._throttle = Throttle(interval)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: dict[str, Any] = {}
        self._timer: threading.Timer | None = None
        self._closed = False
        self.writes = 0

    def report(self, progress: ProgressValue | None, payload_json: str | None) -> None:
        """Record one update; write it now or at the end of the window."""
        values: dict[str, Any] = {}
        if progress is not None:
            values["progress_current"] = progress.current
            values["progress_total"] = progress.total
            values["progress_fraction"] = progress.fraction
        if payload_json is not None:
            values["payload"] = payload_json
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            self._pending.update(values)
            if not self._throttle.due_now(now):
                if self._timer is None:
                    delay = max(0.0, self._throttle.window_end() - now)
                    self._timer = threading.Timer(delay, self._flush_from_timer)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._throttle.wrote(now)
        self._emit()

    def _flush_from_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._throttle.wrote(time.monotonic())
        self._emit()

    def _emit(self) -> None:
        # Taking the pending values under the write lock keeps writes in order: a
        # slow write can never be overtaken by an older set of values.
        with self._write_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            if pending:
                self._write(pending)
                self.writes += 1

    def close(self) -> None:
        """Stop the timer and write whatever is still pending (the task is ending)."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._emit()
