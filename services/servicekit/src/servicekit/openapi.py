"""The OpenAPI document states every error a route can answer, as problem+json.

FastAPI documents a 422 with its own body shape and nothing else. The services answer
every error with one RFC 9457 shape (`servicekit.errors`), so the document is completed
once here, from what the middleware and dependencies do to every route:

- 401 and 403 on routes that need a token (every `/v1` route);
- 404 on routes with path parameters, 405 never documented (the router answers it for
  methods the document does not list);
- 409 and an optional `Idempotency-Key` header on POST routes (a conflict, an illegal
  transition, a replay while the first request is in flight);
- 413 on routes with a body, 422 everywhere a parameter or body is validated;

Readiness documents its own 503 (its JSON body says which check failed).

Responses a route declares itself keep their description and get the problem schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from servicekit.errors import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details with a stable `code`.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    "401": "No valid bearer token",
    "403": "The token's roles do not allow this",
    "404": "Not found",
    "409": "Conflict: illegal state transition, concurrent update, or an Idempotency-Key "
    "request still in flight",
    "413": "Request body too large",
    "422": "Validation error (parameters, body or Idempotency-Key)",
}
IDEMPOTENCY_HEADER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A replay with the same key returns the first response; the same key "
    "with another body is 422.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{1,200}$"},
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _REF}}}


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    """Add the problem schema and the error responses every route can give (in place)."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = operation.get("parameters", [])
            codes = {"422"} if params or "requestBody" in operation else set()
            if path.startswith("/v1/"):
                codes |= {"401", "403", "422"}
            if any(p.get("in") == "path" for p in params):
                codes.add("404")
            if method == "post":
                codes |= {"409", "422"}
                if path.startswith("/v1/") and not any(
                    p.get("name", "").lower() == "idempotency-key" for p in params
                ):
                    operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_HEADER))
            if "requestBody" in operation:
                codes.add("413")
            responses = operation.setdefault("responses", {})
            for code, response in list(responses.items()):
                if code.startswith(("4", "5")) and path != "/health/ready":
                    description = response.get("description") or _DESCRIPTIONS.get(code, "Error")
                    responses[code] = _problem(description)
            for code in sorted(codes):
                responses.setdefault(code, _problem(_DESCRIPTIONS[code]))
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    build = app.openapi
    completed = False

    def openapi() -> dict[str, Any]:
        nonlocal completed
        document = build()
        if not completed:
            complete_document(document)
            completed = True
        return document

    app.openapi = openapi  # type: ignore[method-assign]
