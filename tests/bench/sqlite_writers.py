"""SQLite writers in one process: queued in arrival order against meeting the file locked.

16 tasks on one engine each run 100 write transactions (a read, an insert, a pause that lets
another task run while the lock is held, another insert). Ours: servicekit's SQLite engine
(statements in place, writers queued, servicekit.sqlite_writers). Baseline, in the same run
and alternating: the same connections without the queue, so a writer that finds the file
locked tries again after short sleeps. Reported: transactions per second and the p99 of one
transaction's time (the queue trades a little throughput for the tail).

`python -m tests.bench.sqlite_writers`; part of `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import create_engine, sqlite_engine
from tests.bench.services import median, percentile

TASKS = 16
PER_TASK = 100


async def _run(engine: AsyncEngine) -> dict[str, float]:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
    times: list[float] = []

    async def writer() -> None:
        for _ in range(PER_TASK):
            started = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(text("SELECT count(*) FROM t WHERE id < 10"))
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
                await asyncio.sleep(0)
                await conn.execute(text("INSERT INTO t (v) VALUES ('b')"))
            times.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(TASKS)))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return {"per_second": TASKS * PER_TASK / elapsed, "p99_ms": percentile(times, 0.99)}


def bench_sqlite_writers(repeats: int = 3) -> dict[str, Any]:
    """Queued writers against unqueued ones, alternating, medians of `repeats`."""
    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    with TemporaryDirectory(prefix="bench-sqlite-writers-") as tmp:
        for index in range(repeats):
            ours.append(
                asyncio.run(
                    _run(create_engine(f"sqlite+aiosqlite:///{Path(tmp) / f'q{index}.db'}"))
                )
            )
            base.append(
                asyncio.run(
                    _run(sqlite_engine(f"sqlite+aiosqlite:///{Path(tmp) / f'u{index}.db'}"))
                )
            )
    p99, base_p99 = median([r["p99_ms"] for r in ours]), median([r["p99_ms"] for r in base])
    rate, base_rate = (
        median([r["per_second"] for r in ours]),
        median([r["per_second"] for r in base]),
    )
    return {
        "name": "sqlite_writers_p99",
        "unit": f"ms p99 of a write transaction, {TASKS} tasks on one engine",
        "value": round(p99, 2),
        "per_second": round(rate),
        "baseline": "the same connections without the writer queue (locked file: sleep and retry)",
        "baseline_value": round(base_p99, 2),
        "baseline_per_second": round(base_rate),
        "ratio_vs_baseline": round(p99 / base_p99, 3) if base_p99 else None,
        "ratio_meaning": "our p99 / baseline p99 (lower is better)",
        "throughput_ratio": round(rate / base_rate, 3) if base_rate else None,
        "repeats": repeats,
    }


if __name__ == "__main__":
    print(json.dumps(bench_sqlite_writers(), indent=2))
