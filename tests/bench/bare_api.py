"""The LOS API benchmark's baseline: a bare FastAPI app that writes n rows per request.

`POST /bare/{n}` inserts n rows in one transaction through the same engine factory and
driver as the services (servicekit.db.create_engine: SQLAlchemy async, asyncpg or
aiosqlite) and answers 201 with an id. No auth, idempotency, validation or domain: what is
left is the web framework, the driver and the database. Served by uvicorn with the same
options as the services (`python -m tests.bench.bare_api`, settings from BENCH_* variables).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert

from servicekit.db import create_engine

METADATA = MetaData()
ROWS = Table(
    "bench_rows",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
PAYLOAD = '{"status":"submitted","amount":"12000.00","currency":"USD","term":24}'


def app_factory() -> FastAPI:
    """The bare app on BENCH_DATABASE_URL."""
    engine = create_engine(os.environ["BENCH_DATABASE_URL"])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/bare/{n}", status_code=201)
    async def write(n: int) -> dict[str, str]:
        request_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            for _ in range(n):
                await conn.execute(
                    insert(ROWS).values(
                        id=str(uuid.uuid4()),
                        request_id=request_id,
                        payload=PAYLOAD,
                        created_at=now,
                    )
                )
        return {"id": request_id}

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Serve the bare app as the services are served."""
    import uvicorn

    uvicorn.run(
        "tests.bench.bare_api:app_factory",
        factory=True,
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
