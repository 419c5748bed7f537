"""Every /v1 route of both services refuses bad tokens (401) and wrong roles (403).

The matrix is generated from the routes themselves: each route's role dependency says which
roles it admits, and every role of the platform is tried against it; every route, with or
without a role dependency, must refuse missing, malformed, expired and forged tokens.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from servicekit.auth import ADMIN, ROLES, issue_token
from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import DatabaseFactory


@dataclass(frozen=True)
class RouteCase:
    service: str
    method: str
    path: str
    allowed: frozenset[str]


def _build(service: str, database_url: str) -> FastAPI:
    if service == "los":
        from los.bootstrap import build_app as build_los
        from los.settings import LosSettings

        return build_los(
            LosSettings(database_url=database_url, run_workers=False, environment="test")
        )
    from lms.bootstrap import build_app as build_lms
    from lms.settings import LmsSettings

    return build_lms(LmsSettings(database_url=database_url, run_workers=False, environment="test"))


def _required_roles(route: APIRoute) -> frozenset[str] | None:
    """Roles admitted by the route's role dependency (None: no role dependency found)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        roles = getattr(dependency.call, "required_roles", None)
        if roles is not None:
            return frozenset(roles)
        stack.extend(dependency.dependencies)
    return None


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route, also inside included routers (kept unflattened by FastAPI)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _routes(app: FastAPI, service: str) -> list[RouteCase]:
    cases = []
    for route in _api_routes(app.routes):
        if not route.path.startswith("/v1"):
            continue
        roles = _required_roles(route)
        allowed = frozenset(ROLES) if roles is None else roles | {ADMIN}
        for method in sorted(route.methods):
            cases.append(RouteCase(service, method, route.path, allowed))
    return cases


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


@pytest.fixture(scope="module")
def factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    workdir = tmp_path_factory.mktemp("roles")
    made = {
        "los": DatabaseFactory("sqlite", "los:migrations", Path(workdir)),
        "lms": DatabaseFactory("sqlite", "lms:migrations", Path(workdir)),
    }
    yield made
    for factory in made.values():
        factory.close()


@pytest.fixture(params=["los", "lms"])
def database(
    request: pytest.FixtureRequest, factories: dict[str, DatabaseFactory]
) -> Iterator[tuple[str, str]]:
    url = factories[request.param].new_database()
    yield request.param, url
    factories[request.param].drop(url)


@pytest.fixture
async def service_app(database: tuple[str, str]) -> AsyncIterator[tuple[str, FastAPI]]:
    service, url = database
    app = _build(service, url)
    yield service, app
    await app.state.engine.dispose()


def _bad_tokens() -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "x", "roles": [ADMIN], "iat": now, "exp": now + 600, "iss": "lending-platform"}
    return {
        "missing": "",
        "malformed": "Bearer not.a.jwt",
        "wrong-scheme": "Basic " + issue_token(DEVELOPMENT_SECRET, "x", [ADMIN]),
        "expired": "Bearer "
        + issue_token(DEVELOPMENT_SECRET, "x", [ADMIN], now=now - 7200, ttl_s=60),
        "wrong-signature": "Bearer "
        + jwt.encode(claims, "another-secret-of-enough-length-0123", algorithm="HS256"),
        "alg-none": "Bearer " + jwt.encode(claims, None, algorithm="none"),
    }


async def _call(client: httpx.AsyncClient, case: RouteCase, authorization: str) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if case.method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}
    return await client.request(case.method, _concrete(case.path), **kwargs)


async def test_role_matrix(service_app: tuple[str, FastAPI]) -> None:
    service, app = service_app
    cases = _routes(app, service)
    assert cases, f"{service} exposes no /v1 routes"
    unexpected: list[str] = []
    checked = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for case in cases:
            for name, authorization in _bad_tokens().items():
                response = await _call(client, case, authorization)
                checked += 1
                if response.status_code != 401:
                    unexpected.append(
                        f"{case.method} {case.path} with {name} token: {response.status_code}"
                    )
            for role in ROLES:
                token = "Bearer " + issue_token(DEVELOPMENT_SECRET, f"user-{role}", [role])
                response = await _call(client, case, token)
                checked += 1
                refused = response.status_code == 403
                if role in case.allowed and refused:
                    unexpected.append(f"{case.method} {case.path}: {role} refused")
                if role not in case.allowed and not refused:
                    unexpected.append(
                        f"{case.method} {case.path}: {role} allowed ({response.status_code})"
                    )
                if response.status_code in (401,) or response.status_code >= 500:
                    unexpected.append(
                        f"{case.method} {case.path}: {role} got {response.status_code}"
                    )
    print(
        f"{service}: {len(cases)} routes x {len(ROLES) + len(_bad_tokens())} callers = {checked} checks"
    )
    assert unexpected == []
