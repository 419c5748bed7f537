"""Text with NUL characters is refused at the edge (422), whatever the database.

PostgreSQL cannot store U+0000 in text (SQLite can), so a NUL in a filter, a path id or a
JSON string would otherwise reach the database and fail there as a server error on one
backend and be stored on the other. Query strings and paths are checked here; JSON bodies
of `/v1` routes are checked where they are parsed (`servicekit.routing`).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import problem_response

CODE = "invalid_character"
DETAIL = "Text may not contain NUL (U+0000) characters."


class NulCharacterError(HTTPException):
    """A request carried a NUL character in text (raised while the body is parsed)."""

    code = CODE

    def __init__(self) -> None:
        super().__init__(status_code=422, detail=DETAIL)


def contains_nul(value: Any) -> bool:
    """Whether a parsed JSON value holds a NUL in any string, key or nested value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


class NulGuardMiddleware:
    """Answers 422 `invalid_character` to a request whose path or query holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                await problem_response(
                    422, CODE, DETAIL, instance=scope["path"].replace("\x00", "")
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)
