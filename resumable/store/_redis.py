"""Checkpoint store on Redis: one hash per scope, retention kept beside each value.

Layout (``P`` is the key prefix, ``?prefix=`` on the URL, default ``resumable:``)::

    P state:<len(ns)>:<ns>:<scope key>    hash   name -> "<expires ms>|<json>" (0 = never)
    P attempt:<len(ns)>:<ns>:<scope key>  string the scope's attempt number
    P expiry                              zset   member "<len(hash key)>:<hash key><name>",
                                                 score = expiry in ms

Redis 7 has no per-field TTL, so each value carries its own expiry: reads drop expired
fields on the fly, and ``purge_expired`` walks the ``expiry`` sorted set to delete them.
Every write is one Lua script, so fencing checks and multi-key updates are atomic and
cost one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from resumable._errors import StaleAttemptError, StoreUnavailableError
from resumable.store._backend import Item, Scope

_WRITE = """
local fence = tonumber(ARGV[1])
if fence >= 0 then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if current > fence then return current end
end
local member_prefix = string.len(KEYS[1]) .. ':' .. KEYS[1]
for i = 2, #ARGV, 3 do
  local expires = ARGV[i + 1]
  redis.call('HSET', KEYS[1], ARGV[i], expires .. '|' .. ARGV[i + 2])
  if expires == '0' then
    redis.call('ZREM', KEYS[3], member_prefix .. ARGV[i])
  else
    redis.call('ZADD', KEYS[3], expires, member_prefix .. ARGV[i])
  end
end
return -1
"""

_DELETE = """
local fence = tonumber(ARGV[1])
if fence >= 0 then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if current > fence then return current end
end
local member_prefix = string.len(KEYS[1]) .. ':' .. KEYS[1]
if ARGV[2] == '' then
  local names = redis.call('HKEYS', KEYS[1])
  for _, name in ipairs(names) do
    redis.call('ZREM', KEYS[3], member_prefix .. name)
  end
  redis.call('DEL', KEYS[1])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[3], member_prefix .. ARGV[2])
end
return -1
"""

_PURGE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local colon = string.find(member, ':', 1, true)
  local length = tonumber(string.sub(member, 1, colon - 1))
  local hash = string.sub(member, colon + 1, colon + length)
  local name = string.sub(member, colon + length + 1)
  redis.call('HDEL', hash, name)
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""

_PURGE_BATCH = 500


def _ms(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1000)


def _split(raw: str) -> tuple[int, str]:
    expires, _, value = raw.partition("|")
    return int(expires), value


class RedisBackend:
    """A :class:`~resumable.store._backend.Backend` on Redis (redis-py)."""

    def __init__(self, url: str, masked: str) -> None:
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
        rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
        plain_url = urlunsplit(parts._replace(query=rest))
        self._client: Any = redis.Redis.from_url(
            plain_url,
            decode_responses=True,
            socket_connect_timeout=10,
            socket_timeout=30,
            health_check_interval=30,
        )
        self._expiry = f"{self._prefix}expiry"
        self._write = self._client.register_script(_WRITE)
        self._delete = self._client.register_script(_DELETE)
        self._purge = self._client.register_script(_PURGE)
        self._call(self._client.ping)

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
        tail = f"{len(scope.namespace)}:{scope.namespace}:{scope.key}"
        return f"{self._prefix}state:{tail}", f"{self._prefix}attempt:{tail}"

    def _stale(self, scope: Scope, fence: int | None, result: Any) -> None:
        if int(result) >= 0:
            raise StaleAttemptError(scope.namespace, scope.key, fence or 0, int(result))

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
        args: list[Any] = [-1 if fence is None else fence]
        for item in items:
            args += [item.name, _ms(item.expires_at), item.value]
        result = self._call(self._eval, self._write, [hash_key, attempt_key, self._expiry], args)
        self._stale(scope, fence, result)

    def delete(self, scope: Scope, name: str, fence: int | None) -> None:
        hash_key, attempt_key = self._keys_of(scope)
        args = [-1 if fence is None else fence, name]
        result = self._call(self._eval, self._delete, [hash_key, attempt_key, self._expiry], args)
        self._stale(scope, fence, result)

    def clear(self, scope: Scope, fence: int | None) -> None:
        hash_key, attempt_key = self._keys_of(scope)
        args = [-1 if fence is None else fence, ""]
        result = self._call(self._eval, self._delete, [hash_key, attempt_key, self._expiry], args)
        self._stale(scope, fence, result)

    def new_attempt(self, scope: Scope) -> int:
        return int(self._call(self._client.incr, self._keys_of(scope)[1]))

    def current_attempt(self, scope: Scope) -> int:
        return int(self._call(self._client.get, self._keys_of(scope)[1]) or 0)

    def purge_expired(self, now: datetime) -> int:
        total = 0
        cutoff = _ms(now.astimezone(timezone.utc))
        while True:
            removed = int(
                self._call(self._eval, self._purge, [self._expiry], [cutoff, _PURGE_BATCH])
            )
            total += removed
            if removed < _PURGE_BATCH:
                return total

    def close(self) -> None:
        self._client.close()
