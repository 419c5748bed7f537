"""Scale-out: two LMS consumer processes in one group against one, on a 6-partition topic.

Each run starts `lms worker` processes (relay and consumers, no API) on one PostgreSQL
database and the bundled broker, waits until the consumer group has every process as a
member and a warm-up batch is booked, then writes a backlog of LoanDisbursed events (keyed
by loan id, so spread over the six partitions) and times until the LMS inbox holds them
all. Throughput is events booked per second; runs with one and two processes alternate,
and the figure is the ratio of the medians. Both runs share the machine's cores with the
database and the broker, so the ratio says as much about the CPUs as about the design.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from lending_schemas import make_event, to_kafka
from lending_schemas.examples import example_loan_disbursed_v1
from servicekit.broker import TansuBroker, free_port
from servicekit.db import create_engine
from servicekit.kafka import ensure_topics
from servicekit.tables import INBOX
from tests.bench.services import (
    BIN,
    cpu_note,
    median,
    postgres_database,
    stop_process,
    wait_ready,
)

TOPIC = "lending.loan-disbursed.v1"
GROUP = "lms.loan-disbursed"
WARMUP = 24


def _records(count: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for _ in range(count):
        loan_id = f"LN-{uuid.uuid4().hex[:12]}"
        payload = example_loan_disbursed_v1(
            loan_id=loan_id,
            currency="USD",
            disbursement_date=date(2026, 5, 1),
            first_due_date=date(2026, 6, 1),
        )
        record = to_kafka(make_event(payload, source="/los", subject=loan_id, sequence=1))
        out.append((record.key, record.value, list(record.headers)))
    return out


async def _produce(bootstrap: str, count: int) -> None:
    records = _records(count)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(TOPIC, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _inbox_count(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(INBOX))).scalar() or 0)
    finally:
        await engine.dispose()


async def _wait_count(url: str, target: int, timeout_s: float) -> float:
    """Poll until the inbox holds `target` events; returns when (perf_counter)."""
    engine = create_engine(url)
    deadline = time.perf_counter() + timeout_s
    try:
        while True:
            async with engine.connect() as conn:
                found = int(
                    (await conn.execute(select(func.count()).select_from(INBOX))).scalar() or 0
                )
            now = time.perf_counter()
            if found >= target:
                return now
            if now > deadline:
                raise TimeoutError(f"{found} of {target} events booked in time")
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def _wait_members(bootstrap: str, members: int, timeout_s: float = 30.0) -> bool:
    """Wait until the group is stable with `members` members; False if it cannot be told."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                (described,) = await admin.describe_consumer_groups([GROUP])
                groups = getattr(described, "groups", [])
            except Exception:
                return False
            for group in groups:
                # (error_code, group_id, state, protocol_type, protocol, members, ...)
                if len(group) > 5 and group[2] == "Stable" and len(group[5]) == members:
                    return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await admin.close()


def _run(count: int, processes: int, bootstrap: str, url: str, work: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        for index in range(processes):
            port = free_port()
            env = {
                **os.environ,
                "LMS_PORT": str(port),
                "LMS_DATABASE_URL": url,
                "LMS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "LMS_ENVIRONMENT": "test",
                "LMS_LOG_LEVEL": "WARNING",
                "LMS_KAFKA_CLIENT_ID": f"bench-lms-{index}",
            }
            log = work / f"lms-{processes}-{index}.log"
            handle = log.open("ab")
            proc = subprocess.Popen(
                [str(BIN / "lms"), "worker"], env=env, stdout=handle, stderr=handle
            )
            stack.callback(stop_process, proc)
            wait_ready(f"http://127.0.0.1:{port}", proc, log)
        stable = asyncio.run(_wait_members(bootstrap, processes))
        if not stable:
            time.sleep(5.0)
        before = asyncio.run(_inbox_count(url))
        asyncio.run(_produce(bootstrap, WARMUP))
        asyncio.run(_wait_count(url, before + WARMUP, timeout_s=60))
        started = time.perf_counter()
        asyncio.run(_produce(bootstrap, count))
        finished = asyncio.run(_wait_count(url, before + WARMUP + count, timeout_s=300))
    return {
        "processes": processes,
        "events": count,
        "seconds": finished - started,
        "per_second": count / (finished - started),
        "group_seen_stable": stable,
    }


def bench_scaleout(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    """Events booked per second with two consumer processes against one."""
    repeats = repeats or (2 if quick else 3)
    count = 1500 if quick else 4000
    runs: list[dict[str, Any]] = []
    with ExitStack() as stack, TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        work = Path(tmp)
        broker = stack.enter_context(TansuBroker(log_file=work / "broker.log"))
        asyncio.run(ensure_topics(broker.bootstrap_servers))
        url = stack.enter_context(postgres_database("scaleout"))
        env = {**os.environ, "LMS_DATABASE_URL": url}
        subprocess.run([str(BIN / "lms"), "migrate"], env=env, check=True, capture_output=True)
        for _ in range(repeats):
            for processes in (1, 2):
                runs.append(_run(count, processes, broker.bootstrap_servers, url, work))
    one = median([r["per_second"] for r in runs if r["processes"] == 1])
    two = median([r["per_second"] for r in runs if r["processes"] == 2])
    return {
        "name": "scaleout_two_consumers",
        "unit": "LoanDisbursed events booked per second, two LMS processes (PostgreSQL)",
        "value": two,
        "baseline": "one LMS consumer process, same topic (6 partitions), database and backlog",
        "baseline_value": one,
        "ratio_vs_baseline": round(two / one, 3) if one else None,
        "ratio_meaning": "two processes / one process",
        "target": "ratio at least 1.6 where the CPUs allow",
        "events_per_run": count,
        "runs": runs,
        "machine_note": cpu_note(),
    }
