"""One error shape per service: RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.context import get_correlation_id
from servicekit.db import is_transient_db_error

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("servicekit.errors")


class ProblemError(Exception):
    """An error that already knows its HTTP status and stable code (raised at the edge)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = dict(headers or {})


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem document."""
    body: dict[str, Any] = {
        "type": f"urn:lending:problem:{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    correlation_id = get_correlation_id()
    if correlation_id:
        body["correlation_id"] = correlation_id
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def database_unavailable(instance: str | None = None) -> JSONResponse:
    """503 for a database that cannot be reached or is out of connections: retry later."""
    return problem_response(
        503,
        "database_unavailable",
        "The database is unavailable at the moment; retry the request shortly.",
        instance=instance,
        headers={"Retry-After": "1"},
    )


_DATABASE_ERRORS = (DBAPIError, PoolTimeoutError, ConnectionError)


def is_database_outage(exc: BaseException) -> bool:
    """A connection lost or refused, or none free in time: the database, not the request."""
    return isinstance(exc, _DATABASE_ERRORS) and is_transient_db_error(exc)


def _clean_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        cleaned.append(
            {"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")}
        )
    return cleaned


def install_error_handlers(
    app: FastAPI, domain_errors: Mapping[type[Exception], int] | None = None
) -> None:
    """Map every error to problem+json; domain errors map by class to a status, using their `code`."""
    mapping = dict(domain_errors or {})

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation_errors(exc)
        malformed = any(e["type"] == "json_invalid" for e in errors)
        return problem_response(
            422,
            "malformed_json" if malformed else "validation_error",
            "The request body is not valid JSON." if malformed else "The request is not valid.",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's 400s are bodies it could not parse (bad multipart, bytes that
            # are not the declared encoding): a payload problem, answered as one (422).
            return problem_response(
                422,
                "malformed_body",
                f"The request body could not be read: {exc.detail}",
                instance=request.url.path,
            )
        code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return problem_response(
            exc.status_code,
            code,
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    for error_class, status in mapping.items():

        async def _domain(request: Request, exc: Exception, _status: int = status) -> JSONResponse:
            return problem_response(
                _status,
                str(getattr(exc, "code", "domain_error")),
                str(exc),
                instance=request.url.path,
            )

        app.add_exception_handler(error_class, _domain)

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> JSONResponse:
        return problem_response(
            409,
            "concurrent_update",
            "Someone else changed this resource at the same time; read it again and retry.",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        if is_database_outage(exc):
            # The database restarting or out of reach: a 503 the client may retry.
            logger.warning(
                "database unavailable on %s %s: %r", request.method, request.url.path, exc
            )
            return database_unavailable(request.url.path)
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "internal_error", "An unexpected error occurred.", instance=request.url.path
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # Raised by a route, an outage is answered here, inside the middleware, so the
        # idempotency middleware sees the 503 (and keeps nothing) like any other response;
        # every other database error goes on to `_unhandled` as before.
        if not is_database_outage(exc):
            raise exc
        return await _unhandled(request, exc)

    for database_error in _DATABASE_ERRORS:
        app.add_exception_handler(database_error, _database)
