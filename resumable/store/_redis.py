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
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from resumable._errors import StaleAttemptError, StoreUnavailableError
from resumable.store._backend import Item, Scope

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
        self._fenced = self._client.register_script(_FENCED)
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
            raise StaleAttemptError(scope.namespace, scope.key, fence, current)

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

    def close(self) -> None:
        self._client.close()
