"""A renewal across the real broker: the second loan of a borrower pays the first one off."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from servicekit.auth import issue_token
from servicekit.settings import DEVELOPMENT_SECRET
from tests.e2e.journey import Tokens, run_journey

pytestmark = pytest.mark.e2e


def test_a_top_up_pays_the_first_loan_off_and_the_books_stay_balanced(
    los: httpx.Client, lms: httpx.Client, tokens: Tokens
) -> None:
    first = run_journey(los, lms, tokens, amount="12000.00", term=24)
    old_loan = first["loan_id"]
    second = run_journey(
        los,
        lms,
        tokens,
        amount="15000.00",
        term=36,
        applicant=first["applicant"],
        refinances_loan_id=old_loan,
    )
    assert second["application"]["refinances_loan_id"] == old_loan
    assert second["application"]["status"] == "booked"
    assert second["loan"]["status"] == "active"
    service = {"Authorization": f"Bearer {tokens.servicing}"}
    finance = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_SECRET, 'fin-eve', ['finance'])}"}
    old = lms.get(f"/v1/loans/{old_loan}", headers=service).json()
    assert old["status"] == "paid_off"
    assert Decimal(old["outstanding"]["total"]) == 0
    # Both loans were disbursed today: the payoff is the first loan's principal, no interest
    # has run yet, so the borrower received 15000.00 - 300.00 fee - 12000.00 = 2700.00.
    moves = lms.get(f"/v1/loans/{second['loan_id']}/transactions", headers=finance).json()
    [entry] = [m for m in moves["items"] if m["entry_type"] == "disbursement"]
    by_loan = {(p["loan_id"], p["account"], p["side"]): p["amount"] for p in entry["postings"]}
    assert by_loan == {
        (second["loan_id"], "loans_receivable_principal", "debit"): "15000.00",
        (second["loan_id"], "cash_clearing", "credit"): "2700.00",
        (second["loan_id"], "fee_income", "credit"): "300.00",
        (old_loan, "loans_receivable_principal", "credit"): "12000.00",
    }
    trial = lms.get("/v1/ledger/trial-balance", headers=finance).json()
    assert trial["balanced"]
    reconciliation = lms.get("/v1/ledger/reconciliation", headers=finance).json()
    assert reconciliation["ok"], reconciliation
