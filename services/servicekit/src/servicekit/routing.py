"""Routers whose JSON bodies parse numbers as Decimal, so money sent as a number keeps every digit.

FastAPI reads request bodies with `json.loads`, which turns 1000.10 into a float before
validation; these routes parse non-integer numbers straight to Decimal instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from servicekit.textguard import NulCharacterError, contains_nul


class DecimalJSONRequest(Request):
    """A request whose `json()` yields Decimal for every non-integer number."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_float=Decimal)
            except UnicodeDecodeError as exc:
                # Bytes that are not UTF-8 are malformed JSON (422), not a server fault.
                raise json.JSONDecodeError(f"not UTF-8: {exc.reason}", "", exc.start) from exc
            if contains_nul(self._json):
                raise NulCharacterError()
        return self._json


class DecimalJSONRoute(APIRoute):
    """An API route that hands its endpoint a DecimalJSONRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return await original(DecimalJSONRequest(request.scope, request.receive))

        return handler


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes keep money exact; services build every /v1 router with it."""
    return APIRouter(route_class=DecimalJSONRoute, **kwargs)
