"""Handoff latency: from the LOS disbursement commit to the LMS schedule committed.

The whole platform runs in real processes (the broker, `los serve` and `lms serve` with
their relays and consumers, tests.e2e.stack). Applications are taken to `accepted` first;
then a load generator in its own process disburses them at a steady offered rate (an open
loop: one request every 1/rate seconds, whatever the response times). Each loan's latency
is read from the two databases afterwards: the LMS inbox row's `processed_at` (written in
the booking transaction, just before its commit) minus the LOS outbox row's `created_at`
(the disbursement time, written in the disbursement transaction).

Baseline, measured on the same broker in the same run: raw aiokafka, a producer with the
relay's settings and a consumer with the LMS consumer's fetch settings, at the same rate
and count, produce to consume.

After the runs at the target rate (100 loans/s), the same is measured at a light 20 loans/s:
where the LOS API cannot keep up with the target rate on the machine, the latency at 100/s
is mostly the disbursement requests queueing, and the light load shows the handoff itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func, select, text

from servicekit.db import create_engine
from servicekit.tables import INBOX, OUTBOX
from servicekit.testing import POSTGRES_ENV
from tests.bench.services import (
    admin_url,
    cpu_note,
    create_applicant,
    median,
    percentile,
    run_load,
    tokens,
)
from tests.e2e.stack import Stack

DISBURSED_TYPE = "lending.LoanDisbursed.v1"
FETCH_MAX_WAIT_MS = 5
#: A second, light load: the handoff's own latency when the LOS API is not the bottleneck.
LOW_RATE = 20.0


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _outbox_mark(los_url: str) -> int:
    engine = create_engine(los_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.max(OUTBOX.c.id)))).scalar() or 0)
    finally:
        await engine.dispose()


async def _wait_published(los_url: str, timeout_s: float = 120.0) -> None:
    """Wait until the LOS relay has published everything staged so far.

    The preparation stages several events per application (thousands in all); a timed run
    that starts while the relay is still working through them measures that backlog too.
    """
    engine = create_engine(los_url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            async with engine.connect() as conn:
                pending = (
                    await conn.execute(
                        select(func.count())
                        .select_from(OUTBOX)
                        .where(OUTBOX.c.published_at.is_(None))
                    )
                ).scalar()
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} events still unpublished after the preparation")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def _analyze(*urls: str) -> None:
    """Refresh the planner's statistics, as autovacuum does on a default PostgreSQL.

    This machine's PostgreSQL runs with autovacuum off. Without statistics the services'
    prepared statements keep plans made while their tables were nearly empty, and each run
    adds 500 loans to the LMS (18,000 installment rows) and their events to both outboxes.
    Run between the timed runs, never inside one.
    """
    for url in urls:
        if not url.startswith("postgresql"):
            continue
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
        finally:
            await engine.dispose()


async def _latencies(
    los_url: str, lms_url: str, after_id: int, expected: int, timeout_s: float
) -> list[float]:
    """Per-loan handoff latencies (ms) of disbursements staged after `after_id`."""
    los, lms = create_engine(los_url), create_engine(lms_url)
    try:
        async with los.connect() as conn:
            staged = {
                row.event_id: _utc(row.created_at)
                for row in await conn.execute(
                    select(OUTBOX.c.event_id, OUTBOX.c.created_at).where(
                        OUTBOX.c.id > after_id, OUTBOX.c.event_type == DISBURSED_TYPE
                    )
                )
            }
        if len(staged) != expected:
            raise RuntimeError(f"{len(staged)} disbursements staged, {expected} expected")
        deadline = time.monotonic() + timeout_s
        while True:
            async with lms.connect() as conn:
                booked = {
                    row.event_id: _utc(row.processed_at)
                    for row in await conn.execute(
                        select(INBOX.c.event_id, INBOX.c.processed_at).where(
                            INBOX.c.event_id.in_(list(staged))
                        )
                    )
                }
            if len(booked) == len(staged):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(booked)} of {len(staged)} loans booked in time")
            await asyncio.sleep(0.2)
        return [(booked[e] - staged[e]).total_seconds() * 1000 for e in staged]
    finally:
        await los.dispose()
        await lms.dispose()


async def raw_kafka_latency(bootstrap: str, rate: float, count: int) -> list[float]:
    """Produce `count` records at `rate` per second and time each until consumed (ms)."""
    topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    await producer.start()
    await consumer.start()
    latencies: list[float] = []
    try:
        # Wait for the assignment before producing, as the services' consumers are.
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)

        async def consume() -> None:
            while len(latencies) < count:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        latencies.append((now - json.loads(record.value)["t"]) * 1000)

        reader = asyncio.ensure_future(consume())
        started = time.perf_counter()
        for index in range(count):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            value = json.dumps({"t": time.time(), "pad": "x" * 1500}).encode()
            await producer.send(topic, value, key=uuid.uuid4().hex.encode())
        await asyncio.wait_for(reader, timeout=60)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


def _run_backend(
    backend: str, workdir: Path, *, runs: int, per_run: int, rate: float
) -> dict[str, Any]:
    quiet = {"los": {"LOS_LOG_LEVEL": "WARNING"}, "lms": {"LMS_LOG_LEVEL": "WARNING"}}
    stack = Stack(backend, workdir, extra_env=quiet).start()
    try:
        los_url = stack.los.env["LOS_DATABASE_URL"]
        lms_url = stack.lms.env["LMS_DATABASE_URL"]
        fetch = stack.lms.env.get("LMS_KAFKA_FETCH_MAX_WAIT_MS", str(FETCH_MAX_WAIT_MS))
        prepared = run_load(
            {
                "base": stack.los.url,
                "mode": "closed",
                "scenario": "prepare",
                "connections": 6,
                "count": runs * per_run + runs * max(per_run // 5, 40),
                "tokens": tokens(),
                "applicant_id": create_applicant(stack.los.url),
                "return_results": True,
            }
        )
        plan = [(rate, per_run)] * runs + [(LOW_RATE, max(per_run // 5, 40))] * runs
        needed = sum(count for _, count in plan)
        ids: list[str] = prepared["results"][:needed]
        if len(ids) < needed:
            raise RuntimeError(f"prepared {len(ids)} applications of {needed}")
        asyncio.run(_wait_published(los_url))
        ours: dict[float, list[dict[str, float]]] = {rate: [], LOW_RATE: []}
        base: dict[float, list[dict[str, float]]] = {rate: [], LOW_RATE: []}
        taken = 0
        for offered, count in plan:
            asyncio.run(_analyze(los_url, lms_url))
            mark = asyncio.run(_outbox_mark(los_url))
            load = run_load(
                {
                    "base": stack.los.url,
                    "mode": "rate",
                    "rate": offered,
                    "ids": ids[taken : taken + count],
                    "tokens": tokens(),
                }
            )
            taken += count
            found = asyncio.run(_latencies(los_url, lms_url, mark, count, timeout_s=120))
            ours[offered].append(
                {
                    "p50": percentile(found, 0.5),
                    "p99": percentile(found, 0.99),
                    "max": max(found),
                    "http_p99": load["p99_ms"],
                    "achieved_per_second": load["per_second"],
                }
            )
            raw = asyncio.run(raw_kafka_latency(stack.broker.bootstrap_servers, offered, count))
            base[offered].append({"p50": percentile(raw, 0.5), "p99": percentile(raw, 0.99)})
    finally:
        stack.stop()
    main, low = ours[rate], ours[LOW_RATE]
    p99 = median([r["p99"] for r in main])
    base_p99 = median([r["p99"] for r in base[rate]])
    low_base_p99 = median([r["p99"] for r in base[LOW_RATE]])
    return {
        "name": f"handoff_latency_{backend}",
        "unit": "ms p99, disbursement commit to schedule committed",
        "value": p99,
        "p50_ms": median([r["p50"] for r in main]),
        "max_ms": median([r["max"] for r in main]),
        "disburse_http_p99_ms": median([r["http_p99"] for r in main]),
        "offered_per_second": rate,
        "achieved_per_second": median([r["achieved_per_second"] for r in main]),
        "loans_per_run": per_run,
        "runs": runs,
        "per_run": main,
        "fetch_max_wait_ms": int(fetch),
        "baseline": "raw aiokafka produce to consume, same broker, rate, count and fetch wait",
        "baseline_value": base_p99,
        "baseline_p50_ms": median([r["p50"] for r in base[rate]]),
        "ratio_vs_baseline": round(p99 / base_p99, 2) if base_p99 else None,
        "ratio_meaning": "our p99 / baseline p99 (the cost of the outbox, relay and booking)",
        "target": "p99 under 100 ms at 100 loans/s",
        "low_rate": {
            "offered_per_second": LOW_RATE,
            "loans_per_run": max(per_run // 5, 40),
            "p50_ms": median([r["p50"] for r in low]),
            "p99_ms": median([r["p99"] for r in low]),
            "achieved_per_second": median([r["achieved_per_second"] for r in low]),
            "baseline_p99_ms": low_base_p99,
            "ratio_vs_baseline": round(median([r["p99"] for r in low]) / low_base_p99, 2)
            if low_base_p99
            else None,
        },
        "machine_note": cpu_note(),
    }


def bench_handoff_latency(
    *,
    quick: bool = False,
    backends: tuple[str, ...] = ("postgresql", "sqlite"),
    runs: int | None = None,
    per_run: int | None = None,
) -> list[dict[str, Any]]:
    """Handoff latency at 100 loans/s on each backend, beside raw Kafka latency."""
    os.environ.setdefault(POSTGRES_ENV, admin_url())
    default_runs, default_per_run = (2, 200) if quick else (3, 500)
    with TemporaryDirectory(prefix="bench-handoff-") as tmp:
        return [
            _run_backend(
                backend,
                Path(tmp) / backend,
                runs=runs or default_runs,
                per_run=per_run or default_per_run,
                rate=100.0,
            )
            for backend in backends
        ]
