"""Validation and canonical JSON encoding of keys and values (pure functions).

A value is stored exactly when it round-trips: ``decode(encode(v)) == v``. That rules out
a top-level ``None`` (indistinguishable from "missing"; inside lists and dicts ``None``
is ordinary JSON null and stored as such), NaN/Infinity (not JSON), tuples (they would
come back as lists), non-string dict keys (``json.dumps`` would silently stringify them),
strings holding lone surrogates (not Unicode text: no backend but memory could encode
them) and anything ``json.dumps`` cannot encode.

Keys (and namespaces, scope keys) are text every backend stores verbatim: 1 to 512
characters, no NUL character (PostgreSQL text cannot hold one) and no lone surrogate.
The same rule holds on every backend, so code tested on SQLite or memory behaves the
same on PostgreSQL. Inside values, NUL is fine: JSON escapes it as ``\u0000``.
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

    NUL characters and lone surrogates are refused too (see the module docstring).

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
    if "\x00" in key:
        raise InvalidKeyError(
            f"{what} {key[:40]!r} contains a NUL character ('\\x00'), which PostgreSQL "
            "cannot store; resumable refuses it on every backend",
            key,
        )
    if not key.isascii() and not _is_unicode_text(key):
        raise InvalidKeyError(
            f"{what} {key[:40]!r} contains a lone surrogate; keys must be valid Unicode text",
            key,
        )
    return key


def _is_unicode_text(text: str) -> bool:
    # Lone surrogates (from os.fsdecode, broken JSON, ...) cannot be encoded as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_TOP = "top level"
_LEAVES = frozenset({str, int, bool})
# Inside a list or dict, None is JSON null: ordinary data (API answers are full of it).
_INNER_LEAVES = frozenset({str, int, bool, type(None)})


def _storable(value: object) -> bool:
    """Fast check of the common case: plain str/int/bool/finite float, list and dict,
    with None (JSON null) allowed below the top level.

    Exact type tests, no paths built: a checkpoint write spends most of its validation
    time here. Anything else (subclasses, bad values) falls through to the slow walk in
    :func:`_check_value`, which accepts subclasses and names the offending path.
    """
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind is dict:
        for name, item in value.items():  # type: ignore[attr-defined]
            if type(name) is not str:
                return False
            if type(item) not in _INNER_LEAVES and not _storable(item):
                return False
        return True
    if kind is list:
        # A plain loop, not all(...): the generator costs more than the check itself.
        for item in value:  # type: ignore[attr-defined]  # noqa: SIM110
            if type(item) not in _INNER_LEAVES and not _storable(item):
                return False
        return True
    return False


def _check_value(value: object, key: str | None, path: str) -> None:
    # An explicit walk, because json.dumps accepts things that do not round-trip.
    if value is None and path != _TOP:
        return
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
            f"value for key {key!r} is None; a top-level None cannot be stored "
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
    try:
        if not _storable(value):
            _check_value(value, key, _TOP)
    except RecursionError:
        raise InvalidValueError(
            f"value for key {key!r} is nested too deeply to be stored", key
        ) from None
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValueError(f"value for key {key!r} is not JSON: {exc}", key) from exc
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InvalidValueError(
                f"value for key {key!r} contains a lone surrogate ({exc.object[exc.start]!r}); "
                "strings must be valid Unicode text",
                key,
            ) from exc
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
