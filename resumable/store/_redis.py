"""Checkpoint store on Redis: one hash per scope, expiry kept beside each value.

Layout (``P`` is the key prefix, ``?prefix=`` on the URL, default ``resumable:``)::

    P state:<len(ns)>:<ns>:<scope key>    hash   name -> "<expires ms>|<json>" (0 = never)
    P attempt:<len(ns)>:<ns>:<scope key>  string the scope's attempt number

Redis 7 has no per-field TTL, so each value carries its own expiry: reads treat expired
fields as missing at once, and ``purge_expired`` scans the scope hashes (``SCAN``, in
batches, never blocking the server for long) to delete them. Keeping no separate expiry
index is deliberate: an unfenced write is then a single native command (``HSET`` of one
or many fields, ``HDEL``, ``DEL``), atomic by itself and as fast as the raw driver.
Fenced writes are one Lua script (attempt check + write), equally atomic, one round trip.

Outages: every command goes through redis-py's own retry support (:class:`_DeadlineRetry`):
connection errors and timeouts are retried with exponential backoff and jitter for up to
``retry_seconds`` (``?retry_seconds=`` on the URL, default 5), long enough to ride out a
restart or a failover. Every command this backend sends is safe to repeat after a failure
that may or may not have reached the server (a lost reply):

- reads (``PING HGET HGETALL GET SCAN TIME``, ``CONFIG GET``) change nothing;
- ``HSET`` writes complete entries, their expiry computed before the first try, so a
  repeat writes the same bytes; ``HDEL`` and ``DEL`` of a missing field or key are no-ops;
- the fenced script checks the attempt and writes in one atomic step: repeating it
  rewrites the same entries, or, when a newer attempt started in between, refuses with
  ``StaleAttemptError``, which is the truth by then;
- the purge script deletes only entries still expired when it runs: a repeat deletes
  nothing the first run did not (it may under-count what the first run removed);
- ``INCR`` of the attempt counter is the one non-idempotent command. A repeat after a lost
  reply skips a number: attempt numbers stay unique and strictly increasing, and the
  skipped one has no handle, so fencing holds (a newer attempt still fences every older
  one). It never hands out a number twice.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from resumable._errors import StaleAttemptError, StoreUnavailableError
from resumable.store._backend import Item, Scope
from resumable.store._durability import Persistence, enforce, parse_flag, redis_persistence
from resumable.store._urls import redis_db

# KEYS[1] scope hash, KEYS[2] attempt counter; ARGV[1] the handle's attempt, then
# ARGV[2] the operation: "set" (name, entry pairs follow), "del" (one name), "clear".
_FENCED = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current > tonumber(ARGV[1]) then return current end
local op = ARGV[2]
if op == 'set' then
  for i = 3, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
elseif op == 'del' then
  redis.call('HDEL', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return -1
"""

# KEYS: scope hashes; ARGV[1]: the cutoff in ms. The expiry is re-read here, so a field
# rewritten since the scan found it is never deleted.
_PURGE = """
local cutoff = tonumber(ARGV[1])
local removed = 0
for _, hash in ipairs(KEYS) do
  local entries = redis.call('HGETALL', hash)
  for i = 1, #entries, 2 do
    local entry = entries[i + 1]
    local bar = string.find(entry, '|', 1, true)
    local expires = bar and tonumber(string.sub(entry, 1, bar - 1)) or 0
    if expires ~= 0 and expires <= cutoff then
      redis.call('HDEL', hash, entries[i])
      removed = removed + 1
    end
  end
end
return removed
"""

_SCAN_BATCH = 500
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def _ms(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1000)


def _split(raw: str) -> tuple[int, str]:
    expires, _, value = raw.partition("|")
    return int(expires), value


DEFAULT_RETRY_SECONDS = 5.0
# Backoff between tries: 50 ms doubling up to 500 ms, each with "equal jitter" (half
# fixed, half random) so that many clients reconnecting after a restart spread out.
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 0.5


@functools.cache
def _retry_class() -> Any:
    from redis.retry import Retry

    class _DeadlineRetry(Retry):
        """redis-py's Retry, bounded by time instead of by a count of tries.

        redis-py calls ``fail`` after every failed try, before it backs off; raising
        there ends the loop with the error itself. Each call gets its own deadline, so
        concurrent commands (each on its own connection) never share one.
        """

        def __init__(self, seconds: float) -> None:
            from redis.backoff import EqualJitterBackoff

            super().__init__(EqualJitterBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE), -1)
            self.seconds = seconds

        def call_with_retry(self, do: Callable[[], Any], fail: Any, *args: Any, **kw: Any) -> Any:
            deadline = time.monotonic() + self.seconds

            def fail_or_give_up(error: Exception, *rest: Any) -> None:
                fail(error, *rest)  # redis-py's own handler: drops the broken connection
                if time.monotonic() >= deadline:
                    raise error

            return super().call_with_retry(do, fail_or_give_up, *args, **kw)

    return _DeadlineRetry


def _retry_seconds(text: str, masked: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise StoreUnavailableError(
            f"{masked}: retry_seconds must be a number of seconds >= 0, got {text!r}", masked
        )
    return seconds


class RedisBackend:
    """A :class:`~resumable.store._backend.Backend` on Redis (redis-py)."""

    def __init__(self, url: str, masked: str, *, require_durable: bool | None = None) -> None:
        try:
            import redis
        except ModuleNotFoundError as exc:
            raise StoreUnavailableError(
                f"{masked} needs the redis package: pip install 'resumable-sdk[redis]'", masked
            ) from exc
        self.url = masked
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError,)
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self._prefix = query.pop("prefix", ["resumable:"])[0]
        self.retry_seconds = _retry_seconds(
            query.pop("retry_seconds", [str(DEFAULT_RETRY_SECONDS)])[0], masked
        )
        from_url = parse_flag(query.pop("require_durable", [None])[0], masked)
        self.require_durable = from_url if require_durable is None else require_durable
        rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
        plain_url = urlunsplit(parts._replace(query=rest))
        redis_db(plain_url, masked)  # redis-py would take a path like /abc as database 0
        self._client: Any = redis.Redis.from_url(
            plain_url,
            decode_responses=True,
            # A restart refuses connections at once; a failover may leave a dead address
            # for a while: a try waits at most this long before the next one.
            socket_connect_timeout=min(5.0, max(self.retry_seconds, 1.0)),
            socket_timeout=30,
            health_check_interval=30,
            retry=_retry_class()(self.retry_seconds),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        )
        self._fenced = self._client.register_script(_FENCED)
        self._purge = self._client.register_script(_PURGE)
        self._call(self._client.ping)
        if self.require_durable is not False:
            enforce(masked, self.persistence(), self.require_durable)

    def persistence(self) -> Persistence:
        """What the server keeps on disk (``CONFIG GET``, where the server allows it)."""
        return redis_persistence(self._client)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailableError(
                f"redis {self.url} is unavailable: {exc}", self.url
            ) from exc

    def _eval(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            # EVALSHA straight away: redis-py's Script wrapper costs a few µs per call.
            return self._client.evalsha(script.sha, len(keys), *keys, *args)
        except self._no_script:
            # The server lost its script cache (restart, SCRIPT FLUSH): load and run.
            return script(keys=keys, args=args)

    def _keys_of(self, scope: Scope) -> tuple[str, str]:
        tail = f"{len(scope.namespace)}:{scope.namespace}:{scope.scope_key}"
        return f"{self._prefix}state:{tail}", f"{self._prefix}attempt:{tail}"

    def get(self, scope: Scope, name: str, now: datetime) -> str | None:
        raw = self._call(self._client.hget, self._keys_of(scope)[0], name)
        if raw is None:
            return None
        expires, value = _split(raw)
        return value if expires == 0 or expires > _ms(now) else None

    def keys(self, scope: Scope, now: datetime) -> list[str]:
        raw = self._call(self._client.hgetall, self._keys_of(scope)[0])
        cutoff = _ms(now)
        live = []
        for name, entry in raw.items():
            expires, _ = _split(entry)
            if expires == 0 or expires > cutoff:
                live.append(name)
        return sorted(live)

    def write(self, scope: Scope, items: Sequence[Item], fence: int | None) -> None:
        hash_key, attempt_key = self._keys_of(scope)
        if fence is None:
            entries = {item.name: f"{_ms(item.expires_at)}|{item.value}" for item in items}
            self._call(self._client.hset, hash_key, mapping=entries)
            return
        args: list[Any] = [fence, "set"]
        for item in items:
            args += [item.name, f"{_ms(item.expires_at)}|{item.value}"]
        self._fenced_call(scope, hash_key, attempt_key, fence, args)

    def delete(self, scope: Scope, name: str, fence: int | None) -> None:
        hash_key, attempt_key = self._keys_of(scope)
        if fence is None:
            self._call(self._client.hdel, hash_key, name)
        else:
            self._fenced_call(scope, hash_key, attempt_key, fence, [fence, "del", name])

    def clear(self, scope: Scope, fence: int | None) -> None:
        hash_key, attempt_key = self._keys_of(scope)
        if fence is None:
            self._call(self._client.delete, hash_key)
        else:
            self._fenced_call(scope, hash_key, attempt_key, fence, [fence, "clear"])

    def _fenced_call(
        self, scope: Scope, hash_key: str, attempt_key: str, fence: int, args: list[Any]
    ) -> None:
        current = int(self._call(self._eval, self._fenced, [hash_key, attempt_key], args))
        if current >= 0:
            raise StaleAttemptError(scope.namespace, scope.scope_key, fence, current)

    def new_attempt(self, scope: Scope) -> int:
        return int(self._call(self._client.incr, self._keys_of(scope)[1]))

    def current_attempt(self, scope: Scope) -> int:
        return int(self._call(self._client.get, self._keys_of(scope)[1]) or 0)

    def purge_expired(self, now: datetime) -> int:
        cutoff = _ms(now.astimezone(timezone.utc))
        pattern = f"{self._prefix.translate(_GLOB_SPECIAL)}state:*"
        total = 0
        cursor = 0
        while True:
            cursor, hashes = self._call(
                self._client.scan, cursor, match=pattern, count=_SCAN_BATCH, _type="hash"
            )
            if hashes:
                total += int(self._call(self._eval, self._purge, list(hashes), [cutoff]))
            if int(cursor) == 0:
                return total

    def server_time(self) -> tuple[int, int]:
        """The server's clock (``TIME``): seconds and microseconds since the epoch."""
        seconds, micros = self._call(self._client.time)
        return int(seconds), int(micros)

    def close(self) -> None:
        self._client.close()
