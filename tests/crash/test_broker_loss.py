"""The broker restarts mid-stream with its memory wiped; the platform heals by itself.

The real platform runs (broker, LOS, LMS as processes). Loans are disbursed, the broker is
restarted (Tansu keeps topics in memory: every record, topic and committed offset is
gone), more loans are disbursed, and again. Nobody runs a command: each service's broker
watch notices the loss and its relay publishes the outbox again. After settling, every
disbursed loan is booked exactly once, every LoanBooked recorded exactly once, per-loan
sequences have no gaps and the ledger balances.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import backends
from tests.crash.test_crash_recovery import Driver, _rows, _wait
from tests.e2e.journey import Tokens
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e
RESTARTS = 2
LOANS_PER_PHASE = 3
FAST_WATCH = {"BROKER_WATCH_INTERVAL_S": "0.5"}


def _losses_healed(base_url: str) -> float:
    """The service's broker_losses counter, read from its /metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    found = re.findall(r"^broker_losses_total\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE)
    return sum(float(v) for v in found)


@pytest.mark.parametrize("backend", backends())
def test_broker_restarts_lose_nothing_and_double_nothing(backend: str, tmp_path: Path) -> None:
    extra = {
        "los": {f"LOS_{k}": v for k, v in FAST_WATCH.items()},
        "lms": {f"LMS_{k}": v for k, v in FAST_WATCH.items()},
    }
    stack = Stack(backend, tmp_path, extra_env=extra).start()
    try:
        driver = Driver(stack, Tokens.issue(DEVELOPMENT_SECRET))
        los_db, lms_db = stack.los.env["LOS_DATABASE_URL"], stack.lms.env["LMS_DATABASE_URL"]
        loan_ids: list[str] = []

        def booked() -> int:
            return int(
                _rows(los_db, "SELECT count(*) FROM applications WHERE status = 'booked'")[0][0]
            )

        for phase in range(RESTARTS + 1):
            loan_ids += [driver.disburse_one() for _ in range(LOANS_PER_PHASE)]
            if phase < RESTARTS:
                # Some of this phase's events are on the broker, some still on their way.
                time.sleep(0.3)
                stack.broker.restart()
        _wait(lambda: booked() == len(loan_ids), stack, timeout_s=120)

        assert _losses_healed(stack.los.url) >= 1, "the LOS never noticed the broker loss"
        assert _losses_healed(stack.lms.url) >= 1, "the LMS never noticed the broker loss"

        lms_loans = Counter(r[0] for r in _rows(lms_db, "SELECT id FROM loans"))
        disbursed_inbox = _rows(lms_db, "SELECT subject FROM inbox")
        booked_inbox = _rows(los_db, "SELECT subject FROM inbox")
        assert sorted(lms_loans) == sorted(loan_ids), "every disbursed loan booked"
        assert set(lms_loans.values()) == {1}, "no loan booked twice"
        assert Counter(r[0] for r in disbursed_inbox) == Counter(loan_ids)
        assert Counter(r[0] for r in booked_inbox) == Counter(loan_ids)
        for db in (los_db, lms_db):
            per_loan: dict[str, list[int]] = {}
            for aggregate, sequence in _rows(db, "SELECT aggregate_id, sequence FROM outbox"):
                per_loan.setdefault(aggregate, []).append(int(sequence))
            assert all(sorted(s) == list(range(1, len(s) + 1)) for s in per_loan.values())
        postings = _rows(lms_db, "SELECT side, amount FROM postings")
        debits = sum((Decimal(str(a)) for s, a in postings if s == "debit"), Decimal(0))
        credits = sum((Decimal(str(a)) for s, a in postings if s == "credit"), Decimal(0))
        assert debits == credits > 0, "ledger balanced"
    finally:
        stack.stop()
