"""Servicing endpoints: repayments, their reversal, charges, payoff quotes and movements."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from lms.api.loans import READ_ROLES
from lms.api.schemas import (
    AllocationLineOut,
    AllocationTotalsOut,
    ChargeIn,
    ChargeOut,
    MovementOut,
    MovementPage,
    PaymentOut,
    PayoffQuoteOut,
    PostingOut,
    RepaymentIn,
)
from lms.domain.allocation import Component, totals_by_component
from lms.service.ledger import loan_transactions
from lms.service.renewal import is_settlement
from lms.service.servicing import (
    PaymentView,
    charge_installment,
    get_payment,
    payment_view,
    quote_payoff,
    record_repayment,
    reverse_repayment,
)
from loanmath import round_money
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.errors import ProblemError
from servicekit.routing import api_router

Payer = Annotated[Principal, Depends(require_roles("servicing_agent", "finance"))]
Finance = Annotated[Principal, Depends(require_roles("finance"))]
Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]

router = api_router(prefix="/v1/loans", tags=["servicing"])

_COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed (problem+json)"},
    404: {"description": "Unknown loan or payment (loan_not_found, payment_not_found)"},
}
_PAYMENT_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **_COMMON,
    409: {"description": "loan_closed, external_ref_conflict"},
    422: {"description": "currency_mismatch, invalid_amount, invalid_value_date, validation_error"},
}


def payment_out(view: PaymentView) -> PaymentOut:
    """The API shape of a payment."""
    totals = totals_by_component(view.lines)

    def money(value: Any) -> Any:
        return round_money(value, view.currency)

    return PaymentOut(
        id=view.id,
        loan_id=view.loan_id,
        external_ref=view.external_ref,
        amount=view.amount,
        currency=view.currency,
        value_date=view.value_date,
        status=view.status,
        received_at=view.received_at,
        reversed_at=view.reversed_at,
        allocation=[
            AllocationLineOut(
                installment=line.installment, component=line.component.value, amount=line.amount
            )
            for line in view.lines
        ],
        totals=AllocationTotalsOut(
            principal=money(totals[Component.PRINCIPAL]),
            interest=money(totals[Component.INTEREST]),
            fees=money(totals[Component.FEES]),
            penalties=money(totals[Component.PENALTIES]),
            credit=money(view.credit),
        ),
        closed_loan=view.closed_loan,
        loan_status=view.loan_status,
    )


@router.post(
    "/{loan_id}/repayments",
    response_model=PaymentOut,
    status_code=201,
    responses={**_PAYMENT_PROBLEMS, 200: {"description": "Same external_ref and amount again"}},
)
async def post_repayment(
    loan_id: str,
    body: RepaymentIn,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    caller: Payer,
) -> PaymentOut:
    """Record a repayment and return its allocation (per installment and component, credit).

    A value date before later payments replays them in value-date order. The same
    `external_ref` with the same amount returns the first result (200); with another
    amount it is a 409 `external_ref_conflict`.
    """
    outcome = await record_repayment(
        uow,
        loan_id,
        amount=body.amount,
        currency=body.currency,
        value_date=body.value_date,
        external_ref=body.external_ref,
        received_by=caller.sub,
        now=clock.now(),
        today=clock.today(),
    )
    if not outcome.created:
        response.status_code = 200
    return payment_out(outcome.payment)


@router.get("/{loan_id}/repayments/{payment_id}", response_model=PaymentOut, responses=_COMMON)
async def get_repayment(loan_id: str, payment_id: str, uow: UowDep, _caller: Reader) -> PaymentOut:
    """One payment with its current allocation."""
    return payment_out(await get_payment(uow, loan_id, payment_id))


@router.post(
    "/{loan_id}/repayments/{payment_id}/reversal",
    response_model=PaymentOut,
    responses={
        **_COMMON,
        409: {"description": "payment_already_reversed or settlement_not_reversible"},
    },
)
async def post_reversal(
    loan_id: str, payment_id: str, uow: UowDep, clock: ClockDep, _caller: Finance
) -> PaymentOut:
    """Reverse a payment with a mirror journal entry; later payments are re-applied.

    A renewal's settlement of the loan (paid out of the new loan, no cash) is not reversed
    on its own: 409 `settlement_not_reversible`."""
    if await is_settlement(uow, loan_id, payment_id):
        raise ProblemError(
            409,
            "settlement_not_reversible",
            f"Payment {payment_id} settled the loan out of a renewal's disbursement; it brought "
            "no cash and is not reversed on its own.",
        )
    view = await reverse_repayment(uow, loan_id, payment_id, now=clock.now(), today=clock.today())
    return payment_out(view)


@router.get(
    "/{loan_id}/payoff-quote",
    response_model=PayoffQuoteOut,
    responses={
        **_COMMON,
        409: {"description": "loan_closed"},
        422: {"description": "invalid_value_date"},
    },
)
async def get_payoff_quote(
    loan_id: str,
    uow: UowDep,
    clock: ClockDep,
    _caller: Reader,
    on: Annotated[date | None, Query(alias="date")] = None,
) -> PayoffQuoteOut:
    """Principal outstanding + interest accrued to the date (the loan's day count) + fees +
    penalties. Paying this amount with that value date closes the loan."""
    when = on or clock.today()
    view = await quote_payoff(uow, loan_id, on=when)
    quote = view.quote
    return PayoffQuoteOut(
        loan_id=view.loan_id,
        date=when,
        currency=view.currency,
        principal=quote.principal,
        interest=quote.interest,
        fees=quote.fees,
        penalties=quote.penalties,
        total=quote.total,
    )


@router.post(
    "/{loan_id}/charges",
    response_model=ChargeOut,
    status_code=201,
    responses={**_PAYMENT_PROBLEMS, 422: {"description": "invalid_charge and the payment codes"}},
)
async def post_charge(
    loan_id: str, body: ChargeIn, uow: UowDep, clock: ClockDep, _caller: Payer
) -> ChargeOut:
    """Charge a fee or penalty to an installment (one balanced entry; the loan is replayed)."""
    charge = await charge_installment(
        uow,
        loan_id,
        component=body.component,
        amount=body.amount,
        currency=body.currency,
        installment_number=body.installment_number,
        charge_date=body.charge_date,
        reason=body.reason,
        now=clock.now(),
        today=clock.today(),
    )
    return ChargeOut(
        id=charge.id,
        loan_id=charge.loan_id,
        component=charge.component,
        amount=charge.amount,
        currency=charge.currency,
        installment_number=charge.installment_number,
        charge_date=charge.charge_date,
        reason=charge.reason,
    )


@router.get("/{loan_id}/transactions", response_model=MovementPage, responses=_COMMON)
async def get_transactions(
    loan_id: str,
    uow: UowDep,
    _caller: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> MovementPage:
    """Every money movement of the loan (disbursement, repayments, reversals,
    reallocations after a replay, charges), each with its journal entry and allocation."""
    movements, total = await loan_transactions(uow, loan_id, limit=limit, offset=offset)
    items = []
    for m in movements:
        payment = None
        if m.payment is not None:
            payment = payment_out(payment_view(m.payment, m.loan_status))
        items.append(
            MovementOut(
                entry_id=m.entry.id,
                entry_type=m.entry.entry_type,
                effective_date=m.entry.effective_date,
                created_at=m.entry.created_at,
                currency=m.entry.currency,
                reference=m.entry.reference,
                postings=[
                    PostingOut(
                        account=p.account,
                        side=p.side,
                        amount=p.amount,
                        loan_id=p.loan_id or m.entry.loan_id,
                    )
                    for p in m.entry.postings
                ],
                payment=payment,
            )
        )
    return MovementPage(loan_id=loan_id, items=items, total=total, limit=limit, offset=offset)
