"""Validation and canonical JSON encoding of keys and values (pure functions).

A value is stored exactly when it round-trips: ``decode(encode(v)) == v``. That rules out
``None`` (indistinguishable from "missing"), NaN/Infinity (not JSON), tuples (they would
come back as lists), non-string dict keys (``json.dumps`` would silently stringify them)
and anything ``json.dumps`` cannot encode.
"""

from __future__ import annotations

import json
import math
from typing import Any

from resumable._errors import InvalidKeyError, InvalidValueError, ValueTooLargeError

MAX_KEY_LENGTH = 512
DEFAULT_MAX_VALUE_BYTES = 1024 * 1024

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def validate_key(key: object, what: str = "key") -> str:
    """Return ``key`` if it is a non-empty str of at most 512 characters, else raise.

    Raises:
        InvalidKeyError: naming ``what`` (key, namespace, scope key) and the offending key.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(f"{what} must be a str, got {type(key).__name__}: {key!r}", key)
    if not key:
        raise InvalidKeyError(f"{what} must not be empty", key)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"{what} {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}",
            key,
        )
    return key


def _check_value(value: object, key: str | None, path: str) -> None:
    # An explicit walk, because json.dumps accepts things that do not round-trip.
    if isinstance(value, str):
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValueError(
                f"value for key {key!r} at {path} is {value!r}; NaN and infinities are not JSON",
                key,
            )
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, key, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                raise InvalidValueError(
                    f"value for key {key!r} at {path} has a {type(name).__name__} dict key "
                    f"{name!r}; JSON object keys must be str",
                    key,
                )
            _check_value(item, key, f"{path}[{name!r}]")
        return
    if value is None:
        raise InvalidValueError(
            f"value for key {key!r} at {path} is None; None cannot be stored "
            "(it would read back as 'missing'): delete the key instead",
            key,
        )
    hint = " (use a list)" if isinstance(value, tuple) else ""
    raise InvalidValueError(
        f"value for key {key!r} at {path} is a {type(value).__name__}{hint}; "
        "storable values are str, int, float, bool, list and dict",
        key,
    )


def encode_value(value: Any, key: str | None, max_bytes: int) -> str:
    """Validate ``value`` and return its canonical JSON text.

    Raises:
        InvalidValueError: the value is not storable JSON.
        ValueTooLargeError: the UTF-8 encoding is longer than ``max_bytes``.
    """
    _check_value(value, key, "top level")
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValueError(f"value for key {key!r} is not JSON: {exc}", key) from exc
    size = len(text.encode("utf-8")) if len(text) * 4 > max_bytes else len(text)
    if size > max_bytes:
        raise ValueTooLargeError(
            f"value for key {key!r} is {size} bytes encoded; the limit is {max_bytes} "
            "(open_store(..., max_value_bytes=N) raises it)",
            key,
            size,
            max_bytes,
        )
    return text


def decode_value(text: str) -> Any:
    """Inverse of :func:`encode_value`."""
    return json.loads(text)
