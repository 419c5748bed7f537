"""Ledger endpoints: the trial balance and the reconciliation of loans against postings."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Depends

from lms.api.schemas import (
    DifferenceOut,
    ReconciliationOut,
    TrialBalanceLineOut,
    TrialBalanceOut,
    TrialBalanceTotalOut,
)
from lms.service.ledger import reconcile, trial_balance
from servicekit.auth import Principal, require_roles
from servicekit.deps import UowDep
from servicekit.routing import api_router

Books = Annotated[Principal, Depends(require_roles("finance", "auditor"))]

router = api_router(prefix="/v1/ledger", tags=["ledger"])


@router.get("/trial-balance", response_model=TrialBalanceOut)
async def get_trial_balance(uow: UowDep, _caller: Books) -> TrialBalanceOut:
    """Per account and currency: debits, credits and balance (debits minus credits).

    Each currency's balances sum to zero, because every entry balances.
    """
    lines = await trial_balance(uow)
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for line in lines:
        d, c = totals.get(line.currency, (Decimal(0), Decimal(0)))
        totals[line.currency] = (d + line.debits, c + line.credits)
    return TrialBalanceOut(
        accounts=[
            TrialBalanceLineOut(
                account=line.account,
                currency=line.currency,
                debits=line.debits,
                credits=line.credits,
                balance=line.balance,
            )
            for line in lines
        ],
        totals=[
            TrialBalanceTotalOut(currency=cur, debits=d, credits=c, balance=d - c)
            for cur, (d, c) in sorted(totals.items())
        ],
        balanced=all(d == c for d, c in totals.values()),
    )


@router.get("/reconciliation", response_model=ReconciliationOut)
async def get_reconciliation(uow: UowDep, _caller: Books) -> ReconciliationOut:
    """Every loan's balances recomputed from its postings against its installments:
    principal, fees and penalties receivable, interest receivable against interest accrued
    by close of business minus interest paid (zero once paid off), and the overpayment
    liability against the loan's credit; per currency, the accrual detail against the
    accrual entries posted (loan_id `*`)."""
    report = await reconcile(uow)
    return ReconciliationOut(
        loans_checked=report.loans_checked,
        ok=report.ok,
        differences=[
            DifferenceOut(
                loan_id=d.loan_id, balance=d.balance, ledger=d.ledger, installments=d.installments
            )
            for d in report.differences
        ],
    )
