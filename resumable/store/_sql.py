"""Checkpoint store on SQLite and PostgreSQL (one code path, SQLAlchemy Core).

The statements are written once in Core. The hot ones (get, keys, writes, deletes) are
compiled once and executed by :class:`~resumable.store._sql_direct.DirectExecutor`
(see there why); the rare ones (new attempts, purge) go through the engine as usual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select

from resumable._db.dialect import upsert
from resumable._db.engine import Database, open_database, translate_errors
from resumable._db.types import utcnow
from resumable._errors import StaleAttemptError
from resumable.migrations import migrate
from resumable.migrations.schema import attempts, state
from resumable.store._backend import Item, Scope
from resumable.store._sql_direct import CompiledStatement, Cursor, DirectExecutor

_c = state.c
_attempt_row = and_(
    attempts.c.namespace == bindparam("ns"), attempts.c.scope_key == bindparam("sk")
)


_VERBATIM_SCOPE_BYTES = 512
"""Largest UTF-8 size of namespace + scope key stored as they are (see :func:`scope_columns`)."""


def scope_columns(scope: Scope) -> tuple[str, str]:
    """The (namespace, scope_key) column values that identify ``scope`` in the tables.

    Short scopes (the usual DAG ids, run ids, task names) are stored as they are. Longer
    ones are stored as ``(sha256 of the pair, "")``: with a 512-character key of
    multi-byte text, three verbatim columns would exceed PostgreSQL's btree limit of
    2704 bytes per index row. The scope key of a real scope is never empty, so the two
    forms cannot collide; and nothing reads scope names back, so nothing is lost.
    """
    namespace, key = scope
    if (len(namespace) + len(key)) * 4 <= _VERBATIM_SCOPE_BYTES or (
        len(namespace.encode("utf-8")) + len(key.encode("utf-8")) <= _VERBATIM_SCOPE_BYTES
    ):
        return namespace, key
    pair = f"{len(namespace)}:{namespace}{key}".encode()
    return hashlib.sha256(pair).hexdigest(), ""


class SQLBackend:
    """A :class:`~resumable.store._backend.Backend` on a SQL database."""

    def __init__(self, url: str) -> None:
        self._db: Database = open_database(url)
        self.url = self._db.url
        migrate(self._db)
        dialect = self._db.dialect
        engine = self._db.auto
        if self._db.schema:
            # Compiled statements bypass the engine's schema_translate_map, so they are
            # built on copies of the tables that name the schema themselves.
            engine = engine.execution_options(schema_translate_map=None)
        self._direct = DirectExecutor(engine, self.url)
        table, attempt_table = _tables(self._db.schema)
        c = table.c
        in_scope = and_(c.namespace == bindparam("ns"), c.scope_key == bindparam("sk"))
        live = or_(c.expires_at.is_(None), c.expires_at > bindparam("now"))

        def compiled(statement: Any) -> CompiledStatement:
            return CompiledStatement(statement, engine)

        self._get = compiled(select(c.value).where(in_scope, c.name == bindparam("name"), live))
        # Sorted in Python, not by ORDER BY: a database collation (en_US, ...) would
        # order keys differently from the other backends' code point order.
        self._keys = compiled(select(c.name).where(in_scope, live))
        self._upsert = compiled(
            upsert(
                table,
                dialect,
                ("namespace", "scope_key", "name"),
                ("value", "expires_at", "updated_at"),
            )
        )
        self._delete = compiled(delete(table).where(in_scope, c.name == bindparam("name")))
        self._clear = compiled(delete(table).where(in_scope))
        # FOR SHARE conflicts with new_attempt's row update on PostgreSQL, so a fenced
        # write and a new attempt serialize; SQLite serializes all writers anyway.
        self._lock_attempt = compiled(
            select(attempt_table.c.attempt)
            .where(
                attempt_table.c.namespace == bindparam("ns"),
                attempt_table.c.scope_key == bindparam("sk"),
            )
            .with_for_update(read=True)
        )
        # Engine-executed statements (schema handled by the engine's translate map).
        self._purge = delete(state).where(_c.expires_at <= bindparam("now"))
        # INSERT 1, or +1 on conflict: one atomic statement, even between processes.
        self._bump_attempt = upsert(
            attempts,
            dialect,
            ("namespace", "scope_key"),
            update_values={"attempt": attempts.c.attempt + 1},
        )
        self._read_attempt = select(attempts.c.attempt).where(_attempt_row)

    # -- reads ------------------------------------------------------------------------

    def get(self, scope: Scope, name: str, now: datetime) -> str | None:
        ns, sk = scope_columns(scope)
        row = self._direct.fetch_one(self._get, {"ns": ns, "sk": sk, "name": name, "now": now})
        return None if row is None else str(row[0])

    def keys(self, scope: Scope, now: datetime) -> list[str]:
        ns, sk = scope_columns(scope)
        rows = self._direct.fetch_all(self._keys, {"ns": ns, "sk": sk, "now": now})
        return sorted(str(row[0]) for row in rows)

    def current_attempt(self, scope: Scope) -> int:
        ns, sk = scope_columns(scope)
        with translate_errors(self.url), self._db.auto.connect() as conn:
            value = conn.execute(self._read_attempt, {"ns": ns, "sk": sk}).scalar()
        return int(value or 0)

    # -- writes -----------------------------------------------------------------------

    def _fence(self, scope: Scope, fence: int | None) -> Any:
        if fence is None:
            return None
        ns, sk = scope_columns(scope)
        params = self._lock_attempt.parameters({"ns": ns, "sk": sk})

        def check(cursor: Cursor) -> None:
            cursor.execute(self._lock_attempt.sql, params)
            row = cursor.fetchone()
            if row is not None and int(row[0]) > fence:
                raise StaleAttemptError(scope.namespace, scope.scope_key, fence, int(row[0]))

        return check

    def write(self, scope: Scope, items: Sequence[Item], fence: int | None) -> None:
        now = utcnow()
        ns, sk = scope_columns(scope)
        rows = [
            {
                "namespace": ns,
                "scope_key": sk,
                "name": item.name,
                "value": item.value,
                "expires_at": item.expires_at,
                "updated_at": now,
            }
            for item in items
        ]
        self._direct.write(self._upsert, rows, guard=self._fence(scope, fence))

    def delete(self, scope: Scope, name: str, fence: int | None) -> None:
        ns, sk = scope_columns(scope)
        row = {"ns": ns, "sk": sk, "name": name}
        self._direct.write(self._delete, [row], guard=self._fence(scope, fence))

    def clear(self, scope: Scope, fence: int | None) -> None:
        ns, sk = scope_columns(scope)
        row = {"ns": ns, "sk": sk}
        self._direct.write(self._clear, [row], guard=self._fence(scope, fence))

    def new_attempt(self, scope: Scope) -> int:
        ns, sk = scope_columns(scope)
        with translate_errors(self.url), self._db.tx.begin() as conn:
            conn.execute(self._bump_attempt, {"namespace": ns, "scope_key": sk, "attempt": 1})
            # Still inside the transaction that holds the row lock: this is our number.
            return int(conn.execute(self._read_attempt, {"ns": ns, "sk": sk}).scalar_one())

    def purge_expired(self, now: datetime) -> int:
        with translate_errors(self.url), self._db.auto.connect() as conn:
            count = conn.execute(self._purge, {"now": now}).rowcount
            conn.commit()
        return int(count)

    def close(self) -> None:
        self._direct.close()
        self._db.dispose()


def _tables(schema: str | None) -> tuple[Any, Any]:
    if not schema:
        return state, attempts
    from sqlalchemy import MetaData

    copies = MetaData()
    return state.to_metadata(copies, schema=schema), attempts.to_metadata(copies, schema=schema)
