"""The one seam between the mixin and a checkpoint store.

Airflow's store protocol, and the stores its users and tests write against it, offer
``get(key)`` (None when missing) and ``set(key, value)``; nothing more can be assumed.
So the mixin calls ``get`` with the key alone (a stored value is never a top-level
None, so None means missing on every store), and uses ``update(mapping)`` only where
the store has it (resumable's stores: one atomic write). Without it, a record and its
mirrored id are two ``set`` calls, ordered so that a crash between them leaves the
authoritative record in place. The mixin never deletes: an old record is overwritten.

:func:`resolve_store` finds the store for a run. Integrations that know where a store
lives when the context carries none (``resumable.airflow`` on Airflow 2.10 to 3.2) add a
resolver with :func:`register_store_resolver`; this layer never imports them (the
``resumable`` package loads its integrations, so an operator needs no extra import).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from resumable.jobs._decision import JobRecord, parse_record, state_key


@runtime_checkable
class KeyValueStore(Protocol):
    """The part of a ``task_state_store`` the mixin needs: Airflow's store protocol."""

    def get(self, key: str) -> Any:
        """The value of ``key``, or None when it is missing."""

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""


StoreResolver = Callable[[Mapping[str, Any]], "KeyValueStore | None"]
"""Finds the store of a run from its context, or returns None when it cannot."""

_resolvers: list[StoreResolver] = []


def register_store_resolver(resolver: StoreResolver) -> None:
    """Add ``resolver``, consulted when a context has no ``task_state_store``.

    Resolvers run in registration order; the first that returns a store wins. Registering
    the same resolver twice has no effect.
    """
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def resolve_store(context: Mapping[str, Any]) -> KeyValueStore | None:
    """The run's store: ``context["task_state_store"]``, else a resolver's, else None."""
    store = context.get("task_state_store")
    if store is not None:
        return store  # type: ignore[no-any-return]
    for resolver in _resolvers:
        found = resolver(context)
        if found is not None:
            return found
    return None


def try_number_of(context: Mapping[str, Any]) -> int | None:
    """The try number of this run (1 for the first), or None when the context lacks it.

    ``run_job`` puts ``try_number`` in the context; Airflow has it on ``context["ti"]``.
    """
    number = context.get("try_number")
    if number is None:
        number = getattr(context.get("ti"), "try_number", None)
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def read_record(
    store: KeyValueStore, external_id_key: str, *, check_legacy: bool
) -> JobRecord | None:
    """The job's stored record: one round trip, two when ``check_legacy`` finds no record.

    ``check_legacy`` also reads ``external_id_key`` itself, where Airflow's own mixin
    keeps a plain id; only a retry can find one there, so the first try skips it.
    """
    stored = store.get(state_key(external_id_key))
    if stored is None and check_legacy:
        return parse_record(None, store.get(external_id_key))
    return parse_record(stored)


def write_record(
    store: KeyValueStore, external_id_key: str, record: JobRecord, *, mirror_id: bool = False
) -> None:
    """Persist ``record``; with ``mirror_id`` also the plain id under ``external_id_key``.

    With both, a store offering ``update`` (resumable's) writes them atomically in one
    round trip; any other store (Airflow's protocol has only ``get`` and ``set``) gets
    two ``set`` calls, record first, so a crash between them leaves the authoritative
    record in place and a retry reads the id from it.
    """
    key = state_key(external_id_key)
    if not mirror_id or record.external_id is None:
        store.set(key, record.to_json())
        return
    update = getattr(store, "update", None)
    if callable(update):
        update({key: record.to_json(), external_id_key: record.external_id})
    else:
        store.set(key, record.to_json())
        store.set(external_id_key, record.external_id)
