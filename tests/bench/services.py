"""What the service benchmarks share: databases, service processes, the load generator."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from servicekit.auth import issue_token
from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import _pg_execute, postgres_admin_url, with_database
from tests.e2e.journey import APPLICANT

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The PostgreSQL server the benchmarks create their databases on."""
    return postgres_admin_url() or DEFAULT_POSTGRES


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh empty PostgreSQL database, dropped afterwards."""
    admin = admin_url()
    name = f"bench_{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(admin, name)
    finally:
        asyncio.run(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def tokens() -> dict[str, str]:
    """Bearer tokens for the roles the scenarios use (four eyes: different subjects)."""
    return {
        "agent": issue_token(DEVELOPMENT_SECRET, "bench-agent", ["applicant_agent"]),
        "underwriter": issue_token(DEVELOPMENT_SECRET, "bench-uw", ["underwriter"]),
        "manager": issue_token(DEVELOPMENT_SECRET, "bench-cm", ["credit_manager"]),
    }


def create_applicant(base: str) -> str:
    """One borrower for the benchmark's applications."""
    return create_applicants(base, 1)[0]


def create_applicants(base: str, count: int) -> list[str]:
    """`count` distinct borrowers: each its own national id and date of birth (so none is
    flagged as a possible duplicate of another), the same income and employment."""
    first = uuid.uuid4().int % 10**6
    headers = {"Authorization": f"Bearer {tokens()['agent']}"}
    ids = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for k in range(count):
            response = client.post(
                "/v1/applicants",
                json={
                    **APPLICANT,
                    "national_id": f"AB{(first + k) % 10**6:06d}C",
                    "date_of_birth": (date(1975, 1, 1) + timedelta(days=k)).isoformat(),
                },
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            response.raise_for_status()
            ids.append(str(response.json()["id"]))
    return ids


def run_load(spec: dict[str, Any], timeout_s: float = 600) -> dict[str, Any]:
    """Run the load generator in its own process and return its result."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.loadgen"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    if result["errors"]:
        raise RuntimeError(f"load generator saw errors: {result['first_errors']}")
    return result


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Wait for /health/ready, or fail with the process's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"not ready: {log.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then kill if it does not stop."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def median(values: list[float]) -> float:
    """The median, rounded for the report."""
    return round(statistics.median(values), 2)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a list of numbers."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def cpu_note() -> str:
    """What the figures were measured on."""
    return f"{os.cpu_count()} CPUs shared by the services, the database, the broker and the load"
