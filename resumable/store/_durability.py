"""Whether a store's server keeps its data across a restart, and what to do when not.

Only Redis can be configured to keep nothing: SQLite and PostgreSQL write to disk before
a commit returns. For Redis, ``CONFIG GET appendonly`` and ``CONFIG GET save`` tell:

- ``appendonly yes``: every write is logged (with ``appendfsync everysec``, the default,
  a crash of the machine may lose the last second; ``always`` loses nothing);
- ``save`` non-empty, no AOF: snapshots only; a restart loses what was written since the
  last snapshot;
- neither: a restart loses everything: checkpoints, job records and attempt counters, so
  a running job is submitted again and fencing starts over.

Managed services often refuse ``CONFIG``: the persistence is then unknown, which is not
warned about (the provider's settings decide) but fails ``require_durable=True``.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

from resumable._errors import StoreNotDurableError, StoreNotDurableWarning, StoreUnavailableError


@dataclass(frozen=True)
class Persistence:
    """What a server keeps on disk.

    Attributes:
        kind: ``"aof"``, ``"rdb"`` (snapshots only), ``"none"`` or ``"unknown"``.
        detail: The settings read, or why they could not be read.
    """

    kind: str
    detail: str

    @property
    def durable(self) -> bool:
        """Every acknowledged write survives a server restart (AOF)."""
        return self.kind == "aof"

    def loses(self) -> str:
        """What a restart of the server loses, in words."""
        return {
            "aof": "nothing acknowledged (with appendfsync everysec, at most the last "
            "second if the machine itself crashes)",
            "rdb": "every write since the last snapshot (checkpoints, job records, attempt "
            "counters), so a job recorded since then may be submitted again",
            "none": "everything: every checkpoint, job record and attempt counter, so "
            "every running job is submitted again",
            "unknown": "unknown (the server refused CONFIG GET; check its persistence "
            "settings with your provider)",
        }[self.kind]


def redis_persistence(client: Any) -> Persistence:
    """Read the persistence settings of the Redis server behind ``client``."""
    try:
        appendonly = client.config_get("appendonly").get("appendonly", "")
        save = client.config_get("save").get("save", "")
    except Exception as exc:  # NOPERM, unknown command (renamed), a proxy: not knowable
        return Persistence("unknown", f"CONFIG GET refused: {exc}")
    detail = f"appendonly {appendonly or 'no'}, save {save!r}"
    if str(appendonly).lower() == "yes":
        fsync = client.config_get("appendfsync").get("appendfsync", "")
        return Persistence("aof", f"{detail}, appendfsync {fsync}")
    if str(save).strip():
        return Persistence("rdb", detail)
    return Persistence("none", detail)


_warned: set[str] = set()
_lock = threading.Lock()


def enforce(url: str, persistence: Persistence, require_durable: bool | None) -> None:
    """Warn once per URL (None), raise (True) or stay silent (False) on a volatile server.

    Raises:
        StoreNotDurableError: ``require_durable`` and the server is not known to log
            every write (AOF).
    """
    if require_durable is False or persistence.durable:
        return
    if require_durable:
        raise StoreNotDurableError(
            f"store {url} is not durable ({persistence.detail}): a restart of the server "
            f"loses {persistence.loses()}. Turn on appendonly (docs/operations.md) or "
            "drop require_durable",
            url,
        )
    if persistence.kind != "none":
        return  # snapshots or unknown: `resumable doctor` reports it
    with _lock:
        if url in _warned:
            return
        _warned.add(url)
    warnings.warn(
        StoreNotDurableWarning(
            f"store {url} keeps nothing on disk ({persistence.detail}): a restart of the "
            f"server loses {persistence.loses()}. Turn on appendonly (docs/operations.md); "
            "if the store is meant to be volatile, say so with open_store(..., "
            "require_durable=False) or ?require_durable=false on the URL"
        ),
        stacklevel=5,  # the caller of open_store
    )


def parse_flag(text: str | None, url: str) -> bool | None:
    """``?require_durable=`` of a store URL: true/false (yes/no, 1/0), or None."""
    if text is None:
        return None
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise StoreUnavailableError(f"{url}: require_durable must be true or false, got {text!r}", url)
