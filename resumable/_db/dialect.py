"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(table: Table, dialect_name: str) -> Any:
    """The dialect's own ``INSERT`` construct, which knows ``ON CONFLICT``."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"resumable supports SQLite and PostgreSQL, not {dialect_name!r}")


def upsert(
    table: Table,
    dialect_name: str,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str] = (),
    *,
    update_values: Mapping[str, Any] | None = None,
) -> Any:
    """``INSERT … ON CONFLICT (conflict_columns) DO UPDATE SET …``.

    Columns in ``update_columns`` take the value being inserted (``excluded.col``);
    ``update_values`` sets expressions of the existing row (``attempt + 1``).
    """
    statement = dialect_insert(table, dialect_name)
    assignments: dict[str, Any] = {name: statement.excluded[name] for name in update_columns}
    assignments.update(update_values or {})
    return statement.on_conflict_do_update(index_elements=list(conflict_columns), set_=assignments)


def array_literal(values: Collection[str]) -> str:
    """PostgreSQL's text form of a ``varchar[]`` holding ``values`` (sorted), for a
    statement that casts one text parameter to the array: each element is quoted, and
    backslashes and double quotes in it escaped, so any string comes back unchanged.
    """
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in sorted(values))
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"
