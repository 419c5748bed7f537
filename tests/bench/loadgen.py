"""A small HTTP/1.1 load generator, run in its own process by the benchmarks.

`python -m tests.bench.loadgen < spec.json > result.json`. It keeps persistent keep-alive
connections written and parsed by hand on asyncio streams (no client library in the hot
path), so the load costs the machine as little as it can. Two modes:

- closed: `connections` workers each repeat a scenario back to back for `duration_s`
  (after `warmup_s`, whose results are dropped): throughput and latency at saturation;
- rate: an open loop that starts one scenario run every 1/`rate` seconds for `count`
  runs, on as many connections as are needed, whatever the server's speed.

Scenarios (each run is one or more requests; the latency is the whole run):

- create: POST /v1/applications
- journey: create, submit (and a review if referred), accept, disburse
- prepare: create, submit (and review), accept; the application ids are returned
- disburse: POST /v1/applications/{id}/disburse for ids given in the spec (rate mode)
- bare_create / bare_journey: the same request counts against a bare baseline app whose
  endpoint POST /bare/{n} writes n rows
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

#: An open-loop connection idle for longer than this is not reused: uvicorn closes keep-alive
#: connections after 5 s, and a request written to a closed one fails without an answer.
STALE_AFTER_S = 3.0


class HttpError(Exception):
    """A response that is not what the scenario expects."""


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        """Close the socket."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, Any]:
        """Send one request and read the whole response; returns status and parsed JSON."""
        if self.writer is None:
            await self._open()
        assert self.reader is not None
        assert self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            raw = b"".join(chunks)
        else:
            raw = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, (json.loads(raw) if raw else None)


def _expect(status: int, body: Any, *ok: int) -> Any:
    if status not in ok:
        raise HttpError(f"{status}: {str(body)[:300]}")
    return body


class Scenarios:
    """The request sequences, with the headers the spec gives (tokens)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.tokens: dict[str, str] = spec.get("tokens", {})
        self.writes: dict[str, int] = spec.get("writes", {})
        # Borrowers taken in turn, one per application (or the single `applicant_id`).
        self.applicants: list[str] = spec.get("applicant_ids") or (
            [spec["applicant_id"]] if "applicant_id" in spec else []
        )
        self._next_applicant = 0

    def _h(self, role: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens[role]}",
            "Idempotency-Key": uuid.uuid4().hex,
        }

    async def create(self, conn: Connection) -> str:
        """POST /v1/applications; returns the id."""
        applicant = self.applicants[self._next_applicant % len(self.applicants)]
        self._next_applicant += 1
        body = {
            "applicant_id": applicant,
            "product_code": "PL-STD",
            "requested_amount": "12000.00",
            "currency": "USD",
            "term": 24,
            "purpose": "home improvement",
            "monthly_income": "6500.00",
            "monthly_obligations": "300.00",
        }
        status, found = await conn.request("POST", "/v1/applications", self._h("agent"), body)
        return str(_expect(status, found, 201)["id"])

    async def prepare(self, conn: Connection) -> str:
        """Create, submit (review if referred) and accept; returns the application id."""
        app_id = await self.create(conn)
        status, found = await conn.request(
            "POST", f"/v1/applications/{app_id}/submit", self._h("agent")
        )
        decided = _expect(status, found, 200)
        if decided["status"] == "referred":
            status, found = await conn.request(
                "POST",
                f"/v1/applications/{app_id}/reviews",
                self._h("underwriter"),
                {"outcome": "approve", "comment": "verified"},
            )
            decided = _expect(status, found, 200, 201)
        if decided["status"] != "approved":
            raise HttpError(f"not approved: {decided['status']}")
        status, found = await conn.request(
            "POST", f"/v1/applications/{app_id}/offer/accept", self._h("agent")
        )
        _expect(status, found, 200)
        return app_id

    async def disburse(self, conn: Connection, app_id: str) -> str:
        """POST .../disburse; returns the loan id."""
        status, found = await conn.request(
            "POST", f"/v1/applications/{app_id}/disburse", self._h("manager")
        )
        return str(_expect(status, found, 200)["loan_id"])

    async def journey(self, conn: Connection) -> str:
        """Create, submit, accept, disburse."""
        return await self.disburse(conn, await self.prepare(conn))

    async def _bare(self, conn: Connection, step: str) -> str:
        status, found = await conn.request(
            "POST", f"/bare/{self.writes[step]}", {"Idempotency-Key": uuid.uuid4().hex}, {}
        )
        return str(_expect(status, found, 201)["id"])

    async def bare_create(self, conn: Connection) -> str:
        """The baseline of `create`."""
        return await self._bare(conn, "create")

    async def bare_journey(self, conn: Connection) -> str:
        """The baseline of `journey`: four requests with the same write counts."""
        for step in ("create", "submit", "accept"):
            await self._bare(conn, step)
        return await self._bare(conn, "disburse")


def _summary(latencies: list[float], errors: list[str], elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        if not ordered:
            return None
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000

    return {
        "completed": len(ordered),
        "errors": len(errors),
        "first_errors": errors[:5],
        "elapsed_s": elapsed,
        "per_second": len(ordered) / elapsed if elapsed > 0 else None,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else None,
    }


async def closed_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """`connections` workers repeat the scenario for warmup plus duration."""
    url = urlsplit(spec["base"])
    scenarios = Scenarios(spec)
    run: Callable[[Connection], Awaitable[str]] = getattr(scenarios, spec["scenario"])
    started = time.perf_counter()
    measure_from = started + float(spec.get("warmup_s", 1.0))
    limit = spec.get("count")
    # A counted run goes on until the count is done; a timed one stops at the deadline.
    until = float("inf") if limit is not None else measure_from + float(spec["duration_s"])
    latencies: list[float] = []
    errors: list[str] = []
    results: list[str] = []

    async def worker() -> None:
        conn = Connection(url.hostname or "127.0.0.1", url.port or 80)
        try:
            while time.perf_counter() < until and (limit is None or len(results) < limit):
                t0 = time.perf_counter()
                try:
                    value = await run(conn)
                except (HttpError, OSError, asyncio.IncompleteReadError) as exc:
                    errors.append(repr(exc))
                    await conn.close()
                    continue
                t1 = time.perf_counter()
                results.append(value)
                if t0 >= measure_from or limit is not None:
                    latencies.append(t1 - t0)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(int(spec.get("connections", 8)))))
    elapsed = time.perf_counter() - (started if limit is not None else measure_from)
    summary = _summary(latencies, errors, elapsed)
    if spec.get("return_results"):
        summary["results"] = results
    return summary


async def open_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """Start one run every 1/rate seconds (disbursements of the given ids)."""
    url = urlsplit(spec["base"])
    scenarios = Scenarios(spec)
    ids: list[str] = list(spec["ids"])
    interval = 1.0 / float(spec["rate"])
    idle: list[tuple[Connection, float]] = []
    latencies: list[float] = []
    errors: list[str] = []
    sent_at: dict[str, float] = {}

    async def one(app_id: str) -> None:
        conn = None
        while idle and conn is None:
            conn, since = idle.pop()
            if time.perf_counter() - since > STALE_AFTER_S:
                # The server may have closed it (keep-alive timeout) while it sat idle.
                await conn.close()
                conn = None
        if conn is None:
            conn = Connection(url.hostname or "127.0.0.1", url.port or 80)
        t0 = time.perf_counter()
        try:
            await scenarios.disburse(conn, app_id)
        except (HttpError, OSError, asyncio.IncompleteReadError) as exc:
            errors.append(repr(exc))
            await conn.close()
            return
        latencies.append(time.perf_counter() - t0)
        sent_at[app_id] = time.time()
        idle.append((conn, time.perf_counter()))

    started = time.perf_counter()
    tasks = []
    for index, app_id in enumerate(ids):
        delay = started + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(app_id)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for conn, _ in idle:
        await conn.close()
    summary = _summary(latencies, errors, elapsed)
    summary["offered_per_second"] = float(spec["rate"])
    return summary


def main() -> int:
    """Read the spec from stdin, print the result as JSON."""
    spec = json.load(sys.stdin)
    runner = open_loop if spec.get("mode") == "rate" else closed_loop
    result = asyncio.run(runner(spec))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
