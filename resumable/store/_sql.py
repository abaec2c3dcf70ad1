"""Checkpoint store on SQLite and PostgreSQL (one code path, SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, or_, select
from sqlalchemy.engine import Connection

from resumable._db.dialect import upsert
from resumable._db.engine import Database, open_database, translate_errors
from resumable._db.types import utcnow
from resumable._errors import StaleAttemptError
from resumable.migrations import migrate
from resumable.migrations.schema import attempts, state
from resumable.store._backend import Item, Scope

_c = state.c
_in_scope = and_(_c.namespace == bindparam("ns"), _c.scope_key == bindparam("sk"))
_live = or_(_c.expires_at.is_(None), _c.expires_at > bindparam("now"))
_attempt_row = and_(
    attempts.c.namespace == bindparam("ns"), attempts.c.scope_key == bindparam("sk")
)


class SQLBackend:
    """A :class:`~resumable.store._backend.Backend` on a SQL database.

    Statements are built once, with bound parameters, so SQLAlchemy's compiled cache
    serves every call: the hot path is validate, one execute, done.
    """

    def __init__(self, url: str) -> None:
        self._db: Database = open_database(url)
        self.url = self._db.url
        migrate(self._db)
        dialect = self._db.dialect
        self._get = select(_c.value).where(_in_scope, _c.name == bindparam("name"), _live)
        self._keys = select(_c.name).where(_in_scope, _live).order_by(_c.name)
        self._upsert = upsert(
            state,
            dialect,
            ("namespace", "scope_key", "name"),
            ("value", "expires_at", "updated_at"),
        )
        self._delete = delete(state).where(_in_scope, _c.name == bindparam("name"))
        self._clear = delete(state).where(_in_scope)
        self._purge = delete(state).where(_c.expires_at <= bindparam("now"))
        # INSERT 1, or +1 on conflict: one atomic statement, even between processes.
        self._bump_attempt = upsert(
            attempts,
            dialect,
            ("namespace", "scope_key"),
            update_values={"attempt": attempts.c.attempt + 1},
        )
        self._read_attempt = select(attempts.c.attempt).where(_attempt_row)
        # FOR SHARE conflicts with new_attempt's row update on PostgreSQL, so a fenced
        # write and a new attempt serialize; SQLite serializes all writers anyway.
        self._lock_attempt = self._read_attempt.with_for_update(read=True)

    # -- reads ------------------------------------------------------------------------

    def get(self, scope: Scope, name: str, now: datetime) -> str | None:
        with translate_errors(self.url), self._db.auto.connect() as conn:
            row = conn.execute(
                self._get, {"ns": scope.namespace, "sk": scope.key, "name": name, "now": now}
            ).first()
        return None if row is None else str(row[0])

    def keys(self, scope: Scope, now: datetime) -> list[str]:
        with translate_errors(self.url), self._db.auto.connect() as conn:
            rows = conn.execute(self._keys, {"ns": scope.namespace, "sk": scope.key, "now": now})
            return [str(row[0]) for row in rows]

    def current_attempt(self, scope: Scope) -> int:
        with translate_errors(self.url), self._db.auto.connect() as conn:
            value = conn.execute(
                self._read_attempt, {"ns": scope.namespace, "sk": scope.key}
            ).scalar()
        return int(value or 0)

    # -- writes -----------------------------------------------------------------------

    def _check_fence(self, conn: Connection, scope: Scope, fence: int) -> None:
        current = conn.execute(
            self._lock_attempt, {"ns": scope.namespace, "sk": scope.key}
        ).scalar()
        if current is not None and int(current) > fence:
            raise StaleAttemptError(scope.namespace, scope.key, fence, int(current))

    def _run(self, scope: Scope, fence: int | None, statement: object, params: object) -> int:
        with translate_errors(self.url):
            if fence is None:
                # A single statement is atomic by itself: no BEGIN/COMMIT round trips.
                with self._db.auto.connect() as conn:
                    result = conn.execute(statement, params)  # type: ignore[call-overload]
                    conn.commit()
                    return int(result.rowcount)
            with self._db.tx.begin() as conn:
                self._check_fence(conn, scope, fence)
                result = conn.execute(statement, params)  # type: ignore[call-overload]
                return int(result.rowcount)

    def write(self, scope: Scope, items: Sequence[Item], fence: int | None) -> None:
        now = utcnow()
        rows = [
            {
                "namespace": scope.namespace,
                "scope_key": scope.key,
                "name": item.name,
                "value": item.value,
                "expires_at": item.expires_at,
                "updated_at": now,
            }
            for item in items
        ]
        # One multi-row INSERT … ON CONFLICT: atomic for update() without a transaction.
        if len(rows) == 1:
            self._run(scope, fence, self._upsert, rows[0])
        else:
            self._run(scope, fence, self._upsert.values(rows), {})

    def delete(self, scope: Scope, name: str, fence: int | None) -> None:
        self._run(
            scope, fence, self._delete, {"ns": scope.namespace, "sk": scope.key, "name": name}
        )

    def clear(self, scope: Scope, fence: int | None) -> None:
        self._run(scope, fence, self._clear, {"ns": scope.namespace, "sk": scope.key})

    def new_attempt(self, scope: Scope) -> int:
        params = {"ns": scope.namespace, "sk": scope.key}
        with translate_errors(self.url), self._db.tx.begin() as conn:
            conn.execute(
                self._bump_attempt,
                {"namespace": scope.namespace, "scope_key": scope.key, "attempt": 1},
            )
            # Still inside the transaction that holds the row lock: this is our number.
            return int(conn.execute(self._read_attempt, params).scalar_one())

    def purge_expired(self, now: datetime) -> int:
        with translate_errors(self.url), self._db.auto.connect() as conn:
            count = conn.execute(self._purge, {"now": now}).rowcount
            conn.commit()
        return int(count)

    def close(self) -> None:
        self._db.dispose()
