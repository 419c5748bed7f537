"""Liveness, readiness (database, broker, workers) and Prometheus metrics endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from servicekit import metrics
from servicekit.db import ping
from servicekit.kafka import broker_reachable

Check = Callable[[Request], Awaitable[tuple[bool, Any]]]
logger = logging.getLogger("servicekit.health")


async def database_check(request: Request) -> tuple[bool, Any]:
    """The database answers a trivial query within two seconds."""
    try:
        await asyncio.wait_for(ping(request.app.state.engine), 2.0)
    except Exception as exc:
        return False, f"{type(exc).__name__}"
    return True, "ok"


async def broker_check(request: Request) -> tuple[bool, Any]:
    """The Kafka bootstrap server accepts connections."""
    ok = await broker_reachable(request.app.state.settings.kafka_bootstrap_servers)
    return ok, "ok" if ok else "unreachable"


async def workers_check(request: Request) -> tuple[bool, Any]:
    """Every background worker of this process is running."""
    supervisor = getattr(request.app.state, "workers", None)
    if supervisor is None:
        return True, "none in this process"
    states = supervisor.healthy()
    return all(states.values()), states


ScrapeHook = Callable[[Request], Awaitable[None]]


def health_router(
    extra_checks: dict[str, Check] | None = None, scrape_hooks: Sequence[ScrapeHook] = ()
) -> APIRouter:
    """Health and metrics routes; they need no token.

    `scrape_hooks` refresh gauges read from the database just before /metrics renders; a
    hook that fails is logged and the rest of the metrics are served anyway.
    """
    router = APIRouter(tags=["operations"])
    checks: dict[str, Check] = {
        "database": database_check,
        "broker": broker_check,
        "workers": workers_check,
        **(extra_checks or {}),
    }

    @router.get("/health/live", summary="The process is up")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/health/ready",
        summary="Database, broker and workers are usable",
        responses={
            200: {"description": "Every check passed", "content": {"application/json": {}}},
            503: {
                "description": "A check failed; the body says which",
                "content": {"application/json": {}},
            },
        },
    )
    async def ready(request: Request) -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(checks[n](request) for n in names))
        body = {
            n: {"ok": ok, "detail": detail} for n, (ok, detail) in zip(names, results, strict=True)
        }
        healthy = all(ok for ok, _ in results)
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": body},
            status_code=200 if healthy else 503,
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        include_in_schema=True,
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics(request: Request) -> Response:
        for hook in scrape_hooks:
            try:
                await hook(request)
            except Exception as exc:
                logger.warning(
                    "metrics refresh %s failed: %s", getattr(hook, "__name__", hook), exc
                )
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router
