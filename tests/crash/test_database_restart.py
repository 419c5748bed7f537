"""PostgreSQL restarts (fast shutdown) mid-run; the services ride it out without a restart.

The real platform runs (broker, LOS, LMS as processes) on a private PostgreSQL server of
its own. Loans are disbursed and, with their events still in flight, the server is stopped
with a fast shutdown (open transactions rolled back, every connection cut). While it is
down both services answer not ready; once it is back they report ready again by themselves,
without a process restart; more loans are disbursed, and after settling every loan is booked
exactly once, every LoanBooked recorded exactly once and the ledger balances.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import POSTGRES_ENV
from tests.crash.pgserver import PrivatePostgres, postgres_bin_dir
from tests.crash.test_crash_recovery import Driver, _rows, _wait
from tests.e2e.journey import Tokens
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e
LOANS_PER_PHASE = 3
OUTAGE_S = 4.0


def _ready(url: str) -> int:
    try:
        return httpx.get(f"{url}/health/ready", timeout=3).status_code
    except httpx.HTTPError:
        return 0


def _wait_for(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def private_postgres(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    if postgres_bin_dir() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs the PostgreSQL server binaries for the restart test")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    # Its own directory under the system temp dir: pytest's is private to this user, and
    # the server may run as `postgres`.
    workdir = Path(tempfile.mkdtemp(prefix="lending-pg-"))
    os.chmod(workdir, 0o755)
    server = PrivatePostgres(workdir).init()
    server.start()
    monkeypatch.setenv(POSTGRES_ENV, server.admin_url)
    try:
        yield server
    finally:
        if server.is_running():
            server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgres_restart_mid_run_loses_nothing(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    stack = Stack("postgresql", tmp_path / "stack").start()
    try:
        driver = Driver(stack, Tokens.issue(DEVELOPMENT_SECRET))
        los_db, lms_db = stack.los.env["LOS_DATABASE_URL"], stack.lms.env["LMS_DATABASE_URL"]
        loan_ids = [driver.disburse_one() for _ in range(LOANS_PER_PHASE)]

        private_postgres.stop("fast")  # events of those loans are still on their way
        _wait_for(
            lambda: _ready(stack.los.url) == 503 and _ready(stack.lms.url) == 503,
            30,
            "both services to report not ready while the database is down",
        )
        time.sleep(OUTAGE_S)
        private_postgres.start()
        _wait_for(
            lambda: _ready(stack.los.url) == 200 and _ready(stack.lms.url) == 200,
            60,
            "both services to report ready again",
        )

        loan_ids += [driver.disburse_one() for _ in range(LOANS_PER_PHASE)]
        _wait(
            lambda: (
                _rows(los_db, "SELECT count(*) FROM applications WHERE status = 'booked'")[0][0]
                == len(loan_ids)
            ),
            stack,
            timeout_s=120,
        )
        assert (stack.los.restarts, stack.lms.restarts) == (0, 0), "recovered without a restart"
        assert stack.los.alive()
        assert stack.lms.alive()

        lms_loans = Counter(r[0] for r in _rows(lms_db, "SELECT id FROM loans"))
        assert sorted(lms_loans) == sorted(loan_ids), "every disbursed loan booked"
        assert set(lms_loans.values()) == {1}, "no loan booked twice"
        assert Counter(r[0] for r in _rows(lms_db, "SELECT subject FROM inbox")) == Counter(
            loan_ids
        )
        assert Counter(r[0] for r in _rows(los_db, "SELECT subject FROM inbox")) == Counter(
            loan_ids
        )
        postings = _rows(lms_db, "SELECT side, amount FROM postings")
        debits = sum((Decimal(str(a)) for s, a in postings if s == "debit"), Decimal(0))
        credits = sum((Decimal(str(a)) for s, a in postings if s == "credit"), Decimal(0))
        assert debits == credits > 0, "ledger balanced"
    finally:
        stack.stop()
