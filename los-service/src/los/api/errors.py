"""Domain error classes mapped to HTTP statuses, and the one handler that adds a field."""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse

from los.domain.errors import (
    ApplicantExistsError,
    ConflictError,
    DocumentsIncompleteError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from servicekit.errors import PROBLEM_JSON, problem_response

DOMAIN_ERRORS: Mapping[type[Exception], int] = {
    NotFoundError: 404,
    InvalidRequestError: 422,
    ConflictError: 409,
    ForbiddenError: 403,
}


async def applicant_exists_handler(request: Request, exc: Exception) -> JSONResponse:
    """409 problem+json that also names the applicant already onboarded."""
    assert isinstance(exc, ApplicantExistsError)
    base = problem_response(409, exc.code, exc.detail, instance=request.url.path)
    body = json.loads(bytes(base.body))
    body["existing_id"] = exc.existing_id
    return JSONResponse(body, status_code=409, media_type=PROBLEM_JSON)


async def documents_incomplete_handler(request: Request, exc: Exception) -> JSONResponse:
    """409 problem+json that also lists the missing or unverified document types."""
    assert isinstance(exc, DocumentsIncompleteError)
    base = problem_response(409, exc.code, exc.detail, instance=request.url.path)
    body = json.loads(bytes(base.body))
    body["missing"] = exc.missing
    return JSONResponse(body, status_code=409, media_type=PROBLEM_JSON)
