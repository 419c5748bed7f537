"""Handoff throughput: one LMS worker booking a backlog of LoanDisbursed events from Kafka.

Ours: a backlog of BACKLOG `LoanDisbursed` events (36 monthly installments each) waits on
the Tansu broker; one real `lms worker` process (its consumer, inbox, booking and relay, on
a fresh migrated PostgreSQL database) books them. The rate is taken between the first and
the last inbox row, read from the database while the worker runs, so process start-up is
not counted.

Baseline, in the same run: a bare aiokafka consumer reading the same backlog with the same
fetch settings, plus an asyncpg COPY of exactly the rows the worker wrote (loans, fees,
installments, journal entries, postings, outbox, inbox) into another fresh database.
Ratio = our rate / baseline rate; the target is at least 0.5.

`python -m tests.bench.handoff_throughput [--backlog N] [--repeats R]` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lending_schemas import make_event, to_kafka
from servicekit.broker import TansuBroker, free_port
from servicekit.kafka import ensure_topics
from servicekit.testing import POSTGRES_ENV, DatabaseFactory
from tests.bench.booking import DEFAULT_POSTGRES, _copy_same_rows, _disbursed, _dsn

BACKLOG = 50_000
TOPIC = "lending.loan-disbursed.v1"
FETCH_MAX_WAIT_MS = 20
ANALYZE_EVERY_S = 10.0
BIN = Path(sys.executable).parent


async def _produce_backlog(bootstrap: str, count: int) -> None:
    """Publish `count` distinct disbursed loans (keys spread over the topic's partitions)."""
    from aiokafka import AIOKafkaProducer

    template = _disbursed(0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = []
        for n in range(count):
            loan = template.model_copy(
                update={"loan_id": f"LN-HT-{n:07d}", "application_id": f"APP-HT-{n:07d}"}
            )
            record = to_kafka(make_event(loan, source="/los", subject=loan.loan_id, sequence=1))
            pending.append(
                await producer.send(
                    TOPIC, record.value, key=record.key, headers=list(record.headers)
                )
            )
            if len(pending) >= 2_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _raw_consume(bootstrap: str, count: int) -> float:
    """Seconds for a bare consumer (same fetch settings as the worker) to read the backlog."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{time.monotonic_ns()}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        max_poll_records=500,
    )
    await consumer.start()
    try:
        seen = 0
        started: float | None = None
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1_000)
            if started is None and batches:
                started = time.perf_counter()
            seen += sum(len(records) for records in batches.values())
        assert started is not None
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def _inbox_count(url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(_dsn(url))
    try:
        return int(await connection.fetchval('SELECT count(*) FROM "inbox"'))
    finally:
        await connection.close()


async def _watch(url: str, count: int, worker: subprocess.Popen[bytes], limit_s: float) -> float:
    """Seconds per booked loan between the first inbox row seen and the last.

    It also runs ANALYZE on the growing tables every ANALYZE_EVERY_S, as autovacuum does on
    a PostgreSQL left at its defaults. Without fresh statistics the worker's prepared
    statements keep the plans made while the tables were empty (sequential scans), and the
    rate falls as the tables grow; this machine's PostgreSQL runs with autovacuum off.
    """
    import asyncpg

    connection = await asyncpg.connect(_dsn(url))
    try:
        deadline = time.monotonic() + limit_s
        analyzed = time.monotonic()
        first: tuple[float, int] | None = None
        while True:
            if time.monotonic() - analyzed >= ANALYZE_EVERY_S:
                await connection.execute("ANALYZE inbox, outbox, loans, journal_entries")
                analyzed = time.monotonic()
            done = int(await connection.fetchval('SELECT count(*) FROM "inbox"'))
            now = time.perf_counter()
            if first is None and done > 0:
                first = (now, done)
            if done >= count:
                assert first is not None
                if done == first[1]:
                    raise RuntimeError("the poll saw the whole backlog at once; lower the poll")
                return (now - first[0]) / (done - first[1])
            if worker.poll() is not None:
                raise RuntimeError(f"lms worker exited with {worker.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {count} booked within {limit_s:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


def _run_worker(bootstrap: str, url: str, log: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {
        **os.environ,
        "LMS_PORT": str(port),
        "LMS_DATABASE_URL": url,
        "LMS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LMS_KAFKA_FETCH_MAX_WAIT_MS": str(FETCH_MAX_WAIT_MS),
        "LMS_ENVIRONMENT": "test",
        "LMS_LOG_LEVEL": os.environ.get("BENCH_LMS_LOG_LEVEL", "WARNING"),
        "LMS_KAFKA_CREATE_TOPICS": "false",
    }
    with log.open("ab") as sink:
        return subprocess.Popen(
            [str(BIN / "lms"), "worker"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _one_run(factory: DatabaseFactory, backlog: int, workdir: Path) -> tuple[float, float]:
    """(our seconds per loan, baseline seconds per loan) over one fresh broker and databases."""
    with TansuBroker(log_file=workdir / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        asyncio.run(ensure_topics(bootstrap))
        asyncio.run(_produce_backlog(bootstrap, backlog))
        booked_url = factory.new_database()
        copy_url = factory.new_database()
        try:
            worker = _run_worker(bootstrap, booked_url, workdir / "worker.log")
            try:
                ours = asyncio.run(_watch(booked_url, backlog, worker, limit_s=backlog / 20 + 60))
            finally:
                _stop(worker)
            consume = asyncio.run(_raw_consume(bootstrap, backlog))
            copy = asyncio.run(_copy_same_rows(booked_url, copy_url))
            booked = asyncio.run(_inbox_count(booked_url))
            if booked != backlog:
                raise RuntimeError(f"{booked} inbox rows for a backlog of {backlog}")
        finally:
            factory.drop(booked_url)
            factory.drop(copy_url)
    return ours, (consume + copy) / backlog


def bench_handoff_throughput(repeats: int = 3, backlog: int = BACKLOG) -> dict[str, Any]:
    """Loans booked per second by one LMS worker from a backlog, against consume + COPY."""
    os.environ.setdefault(POSTGRES_ENV, DEFAULT_POSTGRES)
    workdir = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    factory = DatabaseFactory("postgresql", "lms:migrations", workdir)
    ours: list[float] = []
    base: list[float] = []
    try:
        for _ in range(max(repeats, 1)):
            per_loan, base_per_loan = _one_run(factory, backlog, workdir)
            ours.append(per_loan)
            base.append(base_per_loan)
    finally:
        factory.close()
    ours_rate = 1 / statistics.median(ours)
    base_rate = 1 / statistics.median(base)
    return {
        "name": "handoff_throughput_backlog",
        "unit": f"loans booked per second by one LMS worker from a {backlog}-event backlog",
        "value": round(ours_rate, 1),
        "runs": [round(1 / t, 1) for t in ours],
        "baseline": "bare aiokafka consume of the same backlog + asyncpg COPY of the rows "
        "the worker wrote",
        "baseline_value": round(base_rate, 1),
        "baseline_runs": [round(1 / t, 1) for t in base],
        "ratio_vs_baseline": round(ours_rate / base_rate, 3),
        "ratio_meaning": "our rate / baseline rate",
        "target": "at least 0.5",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(bench_handoff_throughput(args.repeats, args.backlog), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
