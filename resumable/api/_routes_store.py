"""``/api/v1/store/{namespace}/{scope_key}``: a checkpoint scope's live keys (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from resumable.api._auth import Session, session
from resumable.api._models import ErrorOut, StoreScopeOut
from resumable.api._per_database import PerDatabase
from resumable.store import Store, open_store

router = APIRouter(
    prefix="/api/v1/store",
    tags=["store"],
    responses={
        401: {"model": ErrorOut, "description": "No token, or an unknown or revoked one."},
        403: {"model": ErrorOut, "description": "Only admins may read the store."},
        422: {"model": ErrorOut, "description": "Bad input; the reason is in `detail`."},
    },
)

_MISSING = object()


class Stores(PerDatabase[Store]):
    """The checkpoint store of the configured task database (where ``ctx.store`` lives)."""

    def open(self, url: str) -> Store:
        return open_store(url)


Segment = Annotated[str, Path(min_length=1, max_length=512, pattern=r"^[^\x00]+$")]


@router.get(
    "/{namespace}/{scope_key}",
    response_model=StoreScopeOut,
    summary="Read a checkpoint scope (admins only)",
)
def read_scope(
    request: Request,
    namespace: Segment,
    scope_key: Segment,
    current: Annotated[Session, Depends(session)],
) -> StoreScopeOut:
    """Every live (unexpired) key of the scope with its value; `{}` for an empty scope."""
    if not current.user.admin:
        raise HTTPException(403, "only admins may read the checkpoint store")
    stores: Stores = request.app.state.stores
    scope = stores.current().scope(namespace, scope_key)
    values = {}
    for key in scope.keys():
        value = scope.get(key, _MISSING)
        if value is not _MISSING:  # expired between keys() and get()
            values[key] = value
    return StoreScopeOut(namespace=namespace, scope_key=scope_key, values=values)
