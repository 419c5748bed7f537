"""kill -9 at the delivery guarantees' weakest moments, over many rounds, then count.

Each case runs the real platform (broker, LOS, LMS as processes) with one process told to
SIGKILL itself at a named point (on one of its first three passes, then with probability LENDING_CRASH_PROBABILITY, 0.2, per pass); a supervisor loop restarts it.
After the rounds the crash switch is turned off, everything settles, and the databases are
counted: every disbursed loan booked exactly once, every LoanBooked recorded exactly once,
per-loan event sequences without gaps, the ledger balanced.

Rounds per case: LENDING_CRASH_ROUNDS (default 2, as in `make test`; `make test-crash` runs 10).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from servicekit.db import create_engine
from servicekit.faults import CONSUMER_AFTER_COMMIT, RELAY_AFTER_PUBLISH, RELAY_BEFORE_PUBLISH
from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import backends
from tests.e2e.journey import APPLICANT, Tokens
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e
ROUNDS = int(os.environ.get("LENDING_CRASH_ROUNDS", "2"))
PROBABILITY = os.environ.get("LENDING_CRASH_PROBABILITY", "0.2")
LOANS_PER_ROUND = 4
REPORT = Path(os.environ.get("LENDING_CRASH_REPORT", "var/crash-report.jsonl"))

CASES = [
    ("los", RELAY_AFTER_PUBLISH),  # LOS relay published LoanDisbursed but did not mark it sent
    ("lms", CONSUMER_AFTER_COMMIT),  # LMS booked the loan but did not commit the Kafka offset
    ("lms", RELAY_BEFORE_PUBLISH),  # LMS booked and staged LoanBooked but did not publish it
]


class Driver:
    """Calls the APIs through crashes, healing dead processes between attempts.

    A crash can land after a request's transaction committed but before its response (and
    its Idempotency-Key record) was written. The retry then meets `idempotency_in_flight`
    and, with a fresh key, a 409 from the state machine; `recover` reads the resource to
    see whether the first attempt took effect, as a careful client would.
    """

    def __init__(self, stack: Stack, tokens: Tokens) -> None:
        self.stack = stack
        self.tokens = tokens
        self.lost_responses = 0

    def call(
        self,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        recover: Callable[[httpx.Response], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        key = uuid.uuid4().hex
        restarts_before = self._restarts()
        deadline = time.monotonic() + 180
        while True:
            self.stack.heal()
            try:
                response: httpx.Response | None = httpx.request(
                    method,
                    self.stack.los.url + path,
                    json=body,
                    timeout=10,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                )
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 400:
                result: dict[str, Any] = response.json()
                return result
            if response is not None and response.status_code == 409:
                code = response.json().get("code")
                if code == "idempotency_in_flight" and self._restarts() > restarts_before:
                    key = uuid.uuid4().hex  # the first attempt's process is gone
                    self.lost_responses += 1
                    continue
                recovered = (
                    recover(response) if recover and code != "idempotency_in_flight" else None
                )
                if recovered is not None:
                    return recovered
            elif response is not None and response.status_code < 500:
                raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path} kept failing: {response and response.text}")
            time.sleep(0.2)

    def _restarts(self) -> int:
        return self.stack.los.restarts + self.stack.lms.restarts

    def _application_in(
        self, app_id: str, statuses: set[str]
    ) -> Callable[[httpx.Response], dict[str, Any] | None]:
        def recover(_: httpx.Response) -> dict[str, Any] | None:
            current = self.call("GET", f"/v1/applications/{app_id}", self.tokens.manager)
            return current if current["status"] in statuses else None

        return recover

    def disburse_one(self) -> str:
        t = self.tokens
        national_id = f"AB{uuid.uuid4().int % 10**6:06d}C"  # GB format, like the address
        applicant = self.call(
            "POST",
            "/v1/applicants",
            t.agent,
            {**APPLICANT, "national_id": national_id},
            recover=lambda r: (
                {"id": r.json()["existing_id"]}
                if r.json().get("code") == "applicant_exists"
                else None
            ),
        )
        application = self.call(
            "POST",
            "/v1/applications",
            t.agent,
            {
                "applicant_id": applicant["id"],
                "product_code": "PL-STD",
                "requested_amount": "5000.00",
                "currency": "USD",
                "term": 12,
                "purpose": "crash test",
                "monthly_income": "6500.00",
                "monthly_obligations": "100.00",
            },
        )
        app_id = application["id"]
        after_submit = {"approved", "accepted", "disbursed", "booked"}
        decided = self.call(
            "POST",
            f"/v1/applications/{app_id}/submit",
            t.agent,
            recover=self._application_in(app_id, after_submit),
        )
        assert decided["status"] in after_submit, decided
        self.call(
            "POST",
            f"/v1/applications/{app_id}/offer/accept",
            t.agent,
            recover=self._application_in(app_id, after_submit - {"approved"}),
        )
        disbursed = self.call(
            "POST",
            f"/v1/applications/{app_id}/disburse",
            t.manager,
            recover=self._application_in(app_id, {"disbursed", "booked"}),
        )
        return str(disbursed["loan_id"])


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in (await conn.execute(text(sql))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _wait(condition: Callable[[], bool], stack: Stack, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.heal()
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError("did not settle in time:\n" + stack.logs(tail=3000))


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize(("service", "point"), CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_nothing_lost_or_doubled_under_kill_9(
    backend: str, service: str, point: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("LENDING_CRASH_SEED", "7"))
    crash_env = {
        "LENDING_CRASH_POINT": point,
        "LENDING_CRASH_PROBABILITY": PROBABILITY,
        "LENDING_CRASH_SEED": str(seed),
    }
    stack = Stack(backend, tmp_path, extra_env={service: crash_env}).start()
    try:
        driver = Driver(stack, Tokens.issue(DEVELOPMENT_SECRET))
        loan_ids: list[str] = []
        for _ in range(ROUNDS):
            loan_ids += [driver.disburse_one() for _ in range(LOANS_PER_ROUND)]
            time.sleep(0.5)  # let relays and consumers pass the crash point
            stack.heal()
        crashed = stack.los.restarts + stack.lms.restarts
        # Turn the crash switch off and let everything settle.
        victim = stack.los if service == "los" else stack.lms
        victim.env["LENDING_CRASH_POINT"] = ""
        victim.stop()
        stack.heal()

        los_db, lms_db = stack.los.env["LOS_DATABASE_URL"], stack.lms.env["LMS_DATABASE_URL"]
        expected = len(loan_ids)
        _wait(
            lambda: (
                _rows(los_db, "SELECT count(*) FROM applications WHERE status = 'booked'")[0][0]
                == expected
            ),
            stack,
        )

        lms_loans = Counter(r[0] for r in _rows(lms_db, "SELECT id FROM loans"))
        booked_inbox = _rows(los_db, "SELECT event_type, subject FROM inbox")
        disbursed_inbox = _rows(lms_db, "SELECT event_type, subject FROM inbox")
        los_outbox = _rows(los_db, "SELECT aggregate_id, sequence FROM outbox")
        lms_outbox = _rows(lms_db, "SELECT aggregate_id, sequence FROM outbox")
        postings = _rows(lms_db, "SELECT side, amount FROM postings")

        assert sorted(lms_loans) == sorted(loan_ids), "every disbursed loan booked"
        assert set(lms_loans.values()) == {1}, "no loan booked twice"
        assert Counter(s for _, s in disbursed_inbox) == Counter(loan_ids), (
            "LoanDisbursed applied once each"
        )
        assert Counter(s for _, s in booked_inbox) == Counter(loan_ids), (
            "LoanBooked recorded once each"
        )
        for outbox in (los_outbox, lms_outbox):
            per_loan: dict[str, list[int]] = {}
            for aggregate, sequence in outbox:
                per_loan.setdefault(aggregate, []).append(int(sequence))
            assert all(sorted(s) == list(range(1, len(s) + 1)) for s in per_loan.values()), (
                "no sequence gaps"
            )
        debits = sum((Decimal(str(a)) for side, a in postings if side == "debit"), Decimal(0))
        credits = sum((Decimal(str(a)) for side, a in postings if side == "credit"), Decimal(0))
        assert debits == credits > 0, "ledger balanced"
        assert crashed >= 1, "the crash point was never reached: the test proved nothing"

        REPORT.parent.mkdir(parents=True, exist_ok=True)
        with REPORT.open("a") as report:
            report.write(
                json.dumps(
                    {
                        "backend": backend,
                        "service": service,
                        "point": point,
                        "rounds": ROUNDS,
                        "probability": PROBABILITY,
                        "loans": expected,
                        "kills": crashed,
                        "lost": expected - len(lms_loans),
                        "doubled": sum(c - 1 for c in lms_loans.values()),
                        "seed": seed,
                        "responses_lost_to_crashes": driver.lost_responses,
                    }
                )
                + "\n"
            )
    finally:
        stack.stop()
