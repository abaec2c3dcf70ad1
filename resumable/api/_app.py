"""The FastAPI application: routers, authentication of the schema pages, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import resumable
from resumable._errors import (
    PermissionDeniedError,
    ResumableError,
    StoreUnavailableError,
    TaskFinishedError,
    TaskNotAbortableError,
    TaskNotFoundError,
)
from resumable.api import _page, _routes_store, _routes_tasks
from resumable.api._auth import Session, TokenStores, session
from resumable.api._models import HealthOut

# Our error tree mapped to HTTP, in one place; the first matching class wins.
_STATUS_OF: tuple[tuple[type[BaseException], int], ...] = (
    (TaskNotFoundError, 404),
    (PermissionDeniedError, 403),
    (TaskNotAbortableError, 409),
    (TaskFinishedError, 409),
    (StoreUnavailableError, 503),
    (ValueError, 422),  # InvalidValueError, InvalidKeyError, ConfigurationError
)


def _error_response(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS_OF if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def _validation_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    reasons = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        reasons.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(reasons) or "invalid request"}, status_code=422)


async def _http_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI answers 400 for a body it cannot even decode; to clients that is bad
        # input like any other, so it gets the same 422 and a reason.
        return JSONResponse({"detail": f"unreadable request body: {exc.detail}"}, 422)
    return await http_exception_handler(request, exc)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.tokens.close()
    app.state.stores.close()


def create_app() -> FastAPI:
    """Build the app; see :func:`resumable.api.create_app`."""
    app = FastAPI(
        title="resumable",
        version=resumable.__version__,
        description=(
            "Watch and cancel resumable tasks. Every endpoint but `/health` needs a "
            "bearer token (`resumable api token create USER`) and acts as its user."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    app.state.tokens = TokenStores()
    app.state.stores = _routes_store.Stores()
    app.add_exception_handler(ResumableError, _error_response)
    app.add_exception_handler(RequestValidationError, _validation_response)
    app.add_exception_handler(StarletteHTTPException, _http_error_response)

    @app.get("/health", response_model=HealthOut, tags=["health"], summary="Liveness")
    def health() -> HealthOut:
        """Answers without a token."""
        return HealthOut()

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(current: Annotated[Session, Depends(session)]) -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(current: Annotated[Session, Depends(session)]) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="resumable API")

    app.include_router(_routes_tasks.router)
    app.include_router(_routes_store.router)
    app.include_router(_page.router)
    return app
