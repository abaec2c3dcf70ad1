"""The checks behind ``resumable doctor``: each returns :class:`Check` records, never raises.

A check reports what it saw: ``ok``, ``warn`` (works, but a fault would cost something)
or ``fail`` (broken now, or unsafe: the doctor exits 1). They cover the checkpoint store
(reachable, schema version, clock skew, SQLite's filesystem, Redis persistence) and the
task database and settings (the same database checks, plus the lease and heartbeat).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from resumable._db.engine import Database, mask_url, open_database
from resumable._errors import ResumableError

OK, WARN, FAIL = "ok", "warn", "fail"

# Clock skew between this host and the database: heartbeats, leases and retention are
# stamped with each host's own clock and compared across hosts.
SKEW_WARN_SECONDS = 1.0

# Filesystems where SQLite's locking is unreliable (network) or data does not survive a
# reboot (memory). Types as /proc/mounts names them.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
     "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "davfs", "fuse.glusterfs"}
)  # fmt: skip
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


@dataclass(frozen=True)
class Check:
    """One finding of ``resumable doctor``."""

    subject: str  # "store", "task database", "settings"
    name: str
    status: str  # OK, WARN or FAIL
    detail: str


def _error_text(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if isinstance(exc, ResumableError) else f"{type(exc).__name__}: {text}"


# -- SQL databases ----------------------------------------------------------------------


def sql_checks(subject: str, url: str, lease: float | None) -> list[Check]:
    """Reachable, schema version, clock skew and (SQLite) the file's filesystem."""
    checks: list[Check] = []
    if urlsplit(url).scheme.lower().startswith("sqlite"):
        checks.append(sqlite_filesystem_check(subject, url))
    try:
        database = open_database(url)
    except Exception as exc:
        return [*checks, Check(subject, "reachable", FAIL, _error_text(exc))]
    try:
        schema = _schema_check(subject, database)
        checks.append(schema)
        if schema.name != "reachable":  # no second error line for the same outage
            checks.append(_sql_skew_check(subject, database, lease))
    finally:
        database.dispose()
    return checks


def _schema_check(subject: str, database: Database) -> Check:
    from resumable.migrations import SCHEMA_VERSION, current_version

    try:
        version = current_version(database)
    except Exception as exc:
        return Check(subject, "reachable", FAIL, _error_text(exc))
    where = f"{database.url}: schema version {version}"
    if version == SCHEMA_VERSION:
        return Check(subject, "schema version", OK, f"{where}, as this release expects")
    if version == 0:
        return Check(
            subject, "schema version", WARN,
            f"{database.url}: no resumable tables yet (created on first use, or run "
            f"`resumable db migrate --url …`)",
        )  # fmt: skip
    if version < SCHEMA_VERSION:
        return Check(
            subject, "schema version", WARN,
            f"{where}, this release expects {SCHEMA_VERSION}: it migrates on first use; "
            "run `resumable db migrate --url …` to do it now",
        )  # fmt: skip
    return Check(
        subject, "schema version", FAIL,
        f"{where} is newer than this release understands ({SCHEMA_VERSION}): upgrade "
        "resumable on this host before it writes to the database",
    )  # fmt: skip


def _sql_skew_check(subject: str, database: Database, lease: float | None) -> Check:
    if database.dialect == "sqlite":
        return Check(subject, "clock skew", OK, "SQLite: the database is this host's clock")
    from sqlalchemy import text

    try:
        with database.auto.connect() as conn:
            before = datetime.now(timezone.utc)
            server = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            after = datetime.now(timezone.utc)
    except Exception as exc:
        return Check(subject, "clock skew", FAIL, f"{database.url}: {_error_text(exc)}")
    return skew_check(subject, server, before, after, lease)


def skew_check(
    subject: str, server: datetime, before: datetime, after: datetime, lease: float | None
) -> Check:
    """Judge the server's clock reading against this host's, taken around the query."""
    if server.tzinfo is None:
        server = server.replace(tzinfo=timezone.utc)
    midpoint = before + (after - before) / 2
    skew = (server - midpoint).total_seconds()
    detail = f"database clock {skew:+.3f} s from this host's"
    if lease is not None and abs(skew) >= lease / 2:
        return Check(
            subject, "clock skew", FAIL,
            f"{detail}, at least half the lease ({lease:g} s): live tasks may be reaped "
            "and expiry is off; synchronize the clocks (NTP)",
        )  # fmt: skip
    if abs(skew) >= SKEW_WARN_SECONDS:
        return Check(subject, "clock skew", WARN, f"{detail}; synchronize the clocks (NTP)")
    return Check(subject, "clock skew", OK, detail)


# -- SQLite's filesystem -----------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for an in-memory database."""
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest).expanduser().resolve()


def filesystem_of(path: Path, mounts: str) -> tuple[str, str]:
    """(mount point, filesystem type) holding ``path``, from ``/proc/mounts`` text."""
    best = ("/", "unknown")
    target = str(path)
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fields[2])
    return best


def sqlite_filesystem_check(subject: str, url: str, mounts_file: str = "/proc/mounts") -> Check:
    """Fail on a network filesystem (locking breaks), warn on one kept in memory."""
    path = sqlite_path(url)
    if path is None:
        return Check(subject, "filesystem", WARN, "in-memory SQLite: nothing survives the process")
    try:
        mounts = Path(mounts_file).read_text()
    except OSError:
        return Check(subject, "filesystem", OK, f"{path}: filesystem not known on this OS")
    point, kind = filesystem_of(path, mounts)
    detail = f"{path} is on {kind} ({point})"
    if kind in NETWORK_FILESYSTEMS:
        return Check(
            subject, "filesystem", FAIL,
            f"{detail}, a network filesystem: SQLite's locks do not hold there, so two "
            "processes can corrupt the database; use a local disk or PostgreSQL",
        )  # fmt: skip
    if kind in MEMORY_FILESYSTEMS:
        return Check(
            subject, "filesystem", WARN, f"{detail}, kept in memory: a reboot loses it"
        )  # fmt: skip
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # created on first use, where the user may write
    if not os.access(existing, os.W_OK):
        return Check(subject, "filesystem", FAIL, f"{detail}, but not writable by this user")
    return Check(subject, "filesystem", OK, detail)


# -- Redis -------------------------------------------------------------------------------


def redis_checks(url: str, lease: float | None, *, require_durable: bool) -> list[Check]:
    """Reachable, persistence (what a restart loses) and clock skew of a Redis store."""
    from resumable.store._redis import RedisBackend

    subject = "store"
    try:
        backend = RedisBackend(url, mask_url(url), require_durable=False)
    except Exception as exc:
        return [Check(subject, "reachable", FAIL, _error_text(exc))]
    try:
        persistence = backend.persistence()
        status = OK if persistence.durable else WARN
        if require_durable and not persistence.durable:
            status = FAIL
        checks = [
            Check(subject, "reachable", OK, backend.url),
            Check(
                subject, "persistence", status,
                f"{persistence.detail}; a restart of the server loses {persistence.loses()}",
            ),
        ]  # fmt: skip
        try:
            before = datetime.now(timezone.utc)
            seconds, micros = backend.server_time()
            after = datetime.now(timezone.utc)
            server = datetime.fromtimestamp(seconds + micros / 1e6, timezone.utc)
            checks.append(skew_check(subject, server, before, after, lease))
        except Exception as exc:
            checks.append(Check(subject, "clock skew", FAIL, _error_text(exc)))
        return checks
    finally:
        backend.close()


def store_checks(url: str, lease: float | None, *, require_durable: bool) -> list[Check]:
    """Every check that applies to the checkpoint store at ``url``."""
    scheme = urlsplit(url).scheme.lower().split("+", 1)[0]
    if scheme in ("redis", "rediss"):
        return redis_checks(url, lease, require_durable=require_durable)
    if scheme == "memory":
        status = FAIL if require_durable else WARN
        return [Check("store", "persistence", status, "memory://: nothing survives the process")]
    if scheme in ("sqlite", "postgresql", "postgres"):
        return sql_checks("store", url, lease)
    return [Check("store", "reachable", FAIL, f"unsupported store URL {mask_url(url)!r}")]


# -- settings ----------------------------------------------------------------------------


def lease_check(heartbeat_interval: float, lease: float) -> Check:
    """The lease leaves room for missed heartbeats (configure() enforces at least 2)."""
    beats = lease / heartbeat_interval
    detail = f"lease {lease:g} s, heartbeat every {heartbeat_interval:g} s ({beats:.1f} beats)"
    if beats < 3:
        return Check(
            "settings", "lease", WARN,
            f"{detail}: two slow heartbeats in a row cost the lease and get a live task "
            "reaped; 3 or more beats per lease is safer",
        )  # fmt: skip
    return Check("settings", "lease", OK, detail)


def settings_checks(settings: Any) -> list[Check]:
    """Lease and heartbeat, and whether the signal Redis (if any) answers."""
    checks = [lease_check(settings.heartbeat_interval, settings.lease)]
    if settings.redis_url:
        checks.append(_signal_redis_check(settings.redis_url))
    return checks


def _signal_redis_check(url: str) -> Check:
    try:
        import redis

        # resumable's own options (?prefix=, …) are not redis-py's: ping the bare server.
        plain = urlunsplit(urlsplit(url)._replace(query=""))
        client = redis.Redis.from_url(plain, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return Check("settings", "signal redis", WARN, f"{mask_url(url)}: {_error_text(exc)} "
                     "(aborts fall back to database polling)")  # fmt: skip
    return Check("settings", "signal redis", OK, f"{mask_url(url)} answers")
