"""Shared test helpers: a disbursed-loan event builder and an independent annuity reference."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from lending_schemas import (
    FeeV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
)

CENT = Decimal("0.01")


def reference_annuity(principal: Decimal, annual_rate: Decimal, n: int) -> list[dict[str, Decimal]]:
    """An amortisation table written out independently of loanmath, for golden figures.

    Level payment P*r/(1-(1+r)^-n) rounded half-even to the cent; each period's interest is
    the rounded balance times r, rounded; the last installment repays the remaining balance.
    """
    r = annual_rate / 12
    payment = (principal * r / (1 - (1 + r) ** -n)).quantize(CENT, ROUND_HALF_EVEN)
    balance = principal
    rows = []
    for k in range(1, n + 1):
        interest = (balance * r).quantize(CENT, ROUND_HALF_EVEN)
        part = balance if k == n else payment - interest
        rows.append({"principal": part, "interest": interest, "total": part + interest})
        balance -= part
    return rows


def build_disbursed(**overrides: Any) -> LoanDisbursedV1:
    """10000.00 USD at 12% over 12 monthly installments, promised figures from the reference."""
    table = reference_annuity(Decimal("10000.00"), Decimal("0.12"), 12)
    fields: dict[str, Any] = {
        "loan_id": "LN-1",
        "application_id": "APP-1",
        "party_ref": "pty_1",
        "product_code": "PERSONAL-12M",
        "currency": "USD",
        "principal": Decimal("10000.00"),
        "net_disbursed": Decimal("9800.00"),
        "disbursement_date": date(2024, 5, 1),
        "annual_rate": Decimal("0.12"),
        "day_count": "30/360",
        "interest_basis": "equal_periods",
        "amortization": "annuity",
        "frequency": "monthly",
        "term": 12,
        "first_due_date": date(2024, 6, 1),
        "rounding_mode": "half_even",
        "fees": [FeeV1(code="ORIGINATION", amount=Decimal("200.00"), treatment="deducted")],
        "penalty": PenaltyTermsV1(
            late_fee_flat=Decimal("15.00"), penalty_rate_annual=Decimal("0.05"), grace_days=5
        ),
        "promised": PromisedTermsV1(
            installment_amount=table[0]["total"],
            total_repayable=sum((row["total"] for row in table), Decimal(0)),
            total_interest=sum((row["interest"] for row in table), Decimal(0)),
        ),
        "disbursed_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return LoanDisbursedV1(**fields)


@pytest.fixture
def disbursed() -> Callable[..., LoanDisbursedV1]:
    """Builder of valid LoanDisbursed payloads with overrides."""
    return build_disbursed


@pytest.fixture
def reference() -> Callable[[Decimal, Decimal, int], list[dict[str, Decimal]]]:
    """The independent annuity table."""
    return reference_annuity
