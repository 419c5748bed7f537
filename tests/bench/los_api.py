"""LOS API throughput and p99: POST /v1/applications and the whole journey, on PostgreSQL.

`los serve` runs as in production (API, outbox relay and LoanBooked consumer in one
process, a broker beside it, no LMS) on a fresh migrated database. The load generator, in
its own process, keeps `connections` keep-alive connections busy for a fixed time (closed
loop) and counts completed requests (create) or journeys (create, submit, accept,
disburse: four sequential requests).

Each application is a different borrower's: the benchmark onboards a pool of borrowers
first (untimed) and the load takes them in turn, so no borrower holds more than a few
loans, as at a lender. (With one borrower for every application, that borrower's approved
exposure passes the product's limit after six approvals: every later journey was referred
and needed a fifth request, a manual review, and every submit read the borrower's whole,
ever-growing list of loans for the exposure check.)

Baseline, in the same run and alternating with ours: a bare FastAPI app under the same
uvicorn options whose endpoint writes as many rows, with the same engine factory and
driver, as each LOS request writes (INSERT plus UPDATE statements, counted per request
with a SQLAlchemy statement listener: create 4, submit 12, accept 5, disburse 5).
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from servicekit.broker import TansuBroker, free_port
from tests.bench.services import (
    BIN,
    ROOT,
    cpu_note,
    create_applicants,
    median,
    postgres_database,
    run_load,
    stop_process,
    tokens,
    wait_ready,
)

WRITES = {"create": 4, "submit": 12, "accept": 5, "disburse": 5}
CONNECTIONS = 16
#: Borrowers onboarded before the runs. At up to about 100 journeys a second, the 3 runs of
#: 7 s take each borrower at most three times: two earlier loans of 12,000 are within the
#: product's exposure limit (75,000), so every submit decides on its own figures.
BORROWERS = 1000


def _start(command: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    proc = subprocess.Popen(command, env=env, stdout=handle, stderr=handle, cwd=ROOT)
    wait_ready(url, proc, log)
    return proc


def _measure(base: str, scenario: str, applicants: list[str], duration_s: float) -> dict[str, Any]:
    return run_load(
        {
            "base": base,
            "mode": "closed",
            "scenario": scenario,
            "connections": CONNECTIONS,
            "warmup_s": 1.0,
            "duration_s": duration_s,
            "tokens": tokens(),
            "applicant_ids": applicants,
            "writes": WRITES,
        }
    )


def bench_los_api(*, quick: bool = False, repeats: int | None = None) -> list[dict[str, Any]]:
    """Requests per second and p99 of the LOS API against the bare baseline."""
    repeats = repeats or (2 if quick else 3)
    duration = 3.0 if quick else 6.0
    with ExitStack() as stack, TemporaryDirectory(prefix="bench-los-api-") as tmp:
        work = Path(tmp)
        broker = stack.enter_context(TansuBroker(log_file=work / "broker.log"))
        los_db = stack.enter_context(postgres_database("los_api"))
        bare_db = stack.enter_context(postgres_database("bare_api"))
        los_port, bare_port = free_port(), free_port()
        los_env = {
            **os.environ,
            "LOS_PORT": str(los_port),
            "LOS_DATABASE_URL": los_db,
            "LOS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "LOS_ENVIRONMENT": "test",
            "LOS_LOG_LEVEL": "WARNING",
            "LOS_DOCUMENT_DIR": str(work / "documents"),
        }
        subprocess.run([str(BIN / "los"), "migrate"], env=los_env, check=True, capture_output=True)
        los_url, bare_url = f"http://127.0.0.1:{los_port}", f"http://127.0.0.1:{bare_port}"
        los = _start([str(BIN / "los"), "serve"], los_env, los_url, work / "los.log")
        stack.callback(stop_process, los)
        bare_env = {**os.environ, "BENCH_PORT": str(bare_port), "BENCH_DATABASE_URL": bare_db}
        bare = _start(
            [sys.executable, "-m", "tests.bench.bare_api"], bare_env, bare_url, work / "bare.log"
        )
        stack.callback(stop_process, bare)
        applicants = create_applicants(los_url, BORROWERS)
        found: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("create", "bare_create", "journey", "bare_journey")
        }
        for _ in range(repeats):
            for scenario in found:
                target = bare_url if scenario.startswith("bare") else los_url
                found[scenario].append(_measure(target, scenario, applicants, duration))
    results = []
    for name, what in (("create", "POST /v1/applications"), ("journey", "journeys")):
        ours, base = found[name], found[f"bare_{name}"]
        rate, base_rate = (
            median([r["per_second"] for r in ours]),
            median([r["per_second"] for r in base]),
        )
        results.append(
            {
                "name": f"los_api_{name}",
                "unit": f"{what} per second ({CONNECTIONS} connections, PostgreSQL)",
                "value": rate,
                "p50_ms": median([r["p50_ms"] for r in ours]),
                "p99_ms": median([r["p99_ms"] for r in ours]),
                "baseline": "bare FastAPI endpoint writing the same number of rows per request",
                "baseline_value": base_rate,
                "baseline_p50_ms": median([r["p50_ms"] for r in base]),
                "baseline_p99_ms": median([r["p99_ms"] for r in base]),
                "ratio_vs_baseline": round(rate / base_rate, 3) if base_rate else None,
                "ratio_meaning": "our throughput / baseline throughput",
                "target": "ratio at least 0.5",
                "repeats": repeats,
                "duration_s": duration,
                "machine_note": cpu_note(),
            }
        )
    return results
