"""Repayments, reversals, charges and payoff: every change replays the loan's events.

A change (new payment, backdated payment, reversal, charge) stages its own journal entry,
then replays every active event from the booked schedule in value-date order. Payments
whose split moved are re-booked with a reallocation entry (the difference only), the
installments take the replayed figures, and the events go to the outbox, all in the
caller's single transaction: either everything is posted or nothing is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import (
    AllocationSummaryV1,
    LoanPaidOffV1,
    LoanScheduleChangedV1,
    OutstandingV1,
    RepaymentReceivedV1,
    RepaymentReversedV1,
)
from lms.adapters.cob import CobRepository
from lms.adapters.orm import (
    ChargeRow,
    InstallmentRow,
    JournalEntryRow,
    LoanRestructureRow,
    LoanRow,
    PaymentAllocationRow,
    PaymentRow,
    PostingRow,
)
from lms.adapters.repository import JournalRepository, LoanRepository, PaymentRepository
from lms.domain.allocation import (
    DEFAULT_ORDER,
    ZERO,
    AllocationLine,
    Component,
    InstallmentState,
    allocation_order,
    totals_by_component,
)
from lms.domain.errors import (
    CurrencyMismatchError,
    ExternalRefConflictError,
    InvalidAmountError,
    InvalidChargeError,
    InvalidValueDateError,
    LoanClosedError,
    LoanNotFoundError,
    PaymentAlreadyReversedError,
    PaymentNotFoundError,
)
from lms.domain.ledger import (
    Account,
    JournalLines,
    capitalisation_lines,
    charge_lines,
    interest_accrual_lines,
    payment_lines,
    payment_split,
    reallocation_lines,
    reversal_lines,
)
from lms.domain.loan import LoanStatus
from lms.domain.restructure import RestructureEvent, RestructureKind, RestructureTerms
from lms.domain.servicing import (
    ChargeEvent,
    Event,
    LoanContext,
    LoanState,
    OverpaymentPolicy,
    PaymentEvent,
    PayoffQuote,
    ReplayResult,
    ServicingEngine,
    event_date,
    payoff_quote,
)
from lms.products import rules_for
from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    LoanMathError,
    RoundingMode,
    ScheduleTerms,
    build_schedule,
    round_money,
)
from servicekit.db import UnitOfWork
from servicekit.outbox import stage_event

EVENT_SOURCE = "/lms"
POSTED = "posted"
REVERSED = "reversed"
CLOSED_STATUSES = {LoanStatus.PAID_OFF.value, LoanStatus.CLOSED.value, LoanStatus.WRITTEN_OFF.value}


@dataclass(frozen=True, slots=True)
class PaymentView:
    """A payment with its current allocation, as the API shows it."""

    id: str
    loan_id: str
    external_ref: str
    amount: Decimal
    currency: str
    value_date: date
    status: str
    received_at: datetime
    reversed_at: datetime | None
    lines: tuple[AllocationLine, ...]
    credit: Decimal
    closed_loan: bool
    loan_status: str


@dataclass(frozen=True, slots=True)
class RepaymentOutcome:
    """The payment and whether this call created it (False: a replay of the same one)."""

    payment: PaymentView
    created: bool


# -- building blocks ------------------------------------------------------------------


def loan_context(loan: LoanRow) -> LoanContext:
    """The engine's view of a stored loan and its product's servicing rules."""
    return LoanContext(
        currency=loan.currency,
        disbursement_date=loan.disbursement_date,
        annual_rate=loan.annual_rate,
        day_count=DayCount(loan.day_count),
        rounding_mode=RoundingMode(loan.rounding_mode),
        order=allocation_order(loan.allocation_order) if loan.allocation_order else DEFAULT_ORDER,
        policy=rules_for(loan.product_code).overpayment,
        frequency=Frequency(loan.frequency),
        method=AmortizationMethod(loan.amortization),
        interest_basis=InterestBasis(loan.interest_basis),
    )


def servicing_engine(loan: LoanRow, ctx: LoanContext) -> ServicingEngine:
    """The engine; products that re-amortise get the booked loanmath schedule to regenerate."""
    if ctx.policy is OverpaymentPolicy.HOLD_CREDIT:
        return ServicingEngine(ctx)
    try:
        booked = build_schedule(
            ScheduleTerms(
                principal=loan.principal,
                currency=loan.currency,
                annual_rate=loan.annual_rate,
                term=loan.term,
                disbursement_date=loan.disbursement_date,
                first_due_date=loan.first_due_date,
                frequency=Frequency(loan.frequency),
                method=AmortizationMethod(loan.amortization),
                day_count=DayCount(loan.day_count),
                interest_basis=InterestBasis(loan.interest_basis),
                rounding_mode=RoundingMode(loan.rounding_mode),
            )
        )
    except (LoanMathError, ValueError):
        return ServicingEngine(ctx)
    ours = [(i.number, i.due_date, i.principal, i.interest) for i in booked.installments]
    stored = [(i.number, i.due_date, i.principal, i.interest) for i in booked_installments(loan)]
    # Regenerate only from the very schedule that was booked.
    return ServicingEngine(ctx, booked) if ours == stored else ServicingEngine(ctx)


def booked_installments(loan: LoanRow) -> list[InstallmentState]:
    """The schedule as booked (version 1), nothing paid: where every replay starts."""
    rows = sorted((i for i in loan.installments if i.schedule_version == 1), key=lambda i: i.number)
    zero = round_money(ZERO, loan.currency)
    return [
        InstallmentState(
            number=r.number,
            due_date=r.due_date,
            principal=r.principal,
            interest=r.interest,
            fees=r.fees,
            penalties=zero,
        )
        for r in rows
    ]


def restructure_terms(params: dict[str, object]) -> RestructureTerms:
    """Stored restructure parameters (strings for amounts) as domain terms."""
    rate = params.get("annual_rate")
    amount = params.get("installment_amount")
    return RestructureTerms(
        kind=RestructureKind(str(params["kind"])),
        extend_by=int(str(params.get("extend_by") or 0)),
        annual_rate=None if rate is None else Decimal(str(rate)),
        installment_amount=None if amount is None else Decimal(str(amount)),
        holiday_periods=int(str(params.get("holiday_periods") or 0)),
        capitalise_interest=bool(params.get("capitalise_interest")),
    )


def replay_events(
    payments: Sequence[PaymentRow],
    charges: Sequence[ChargeRow],
    restructures: Sequence[LoanRestructureRow] = (),
) -> list[Event]:
    """A loan's stored payments (reversed ones left out), charges and restructures as the
    engine's events."""
    events: list[Event] = [
        PaymentEvent(p.id, p.value_date, p.amount, p.seq) for p in payments if p.status == POSTED
    ]
    events += [
        ChargeEvent(
            c.id, c.charge_date, c.installment_number, Component(c.component), c.amount, c.seq
        )
        for c in charges
    ]
    events += [
        RestructureEvent(r.id, r.effective_date, r.seq, restructure_terms(r.params))
        for r in restructures
    ]
    return events


def _money(loan: LoanRow, amount: Decimal) -> Decimal:
    return round_money(amount, loan.currency)


def _outstanding_on(
    loan: LoanRow, installments: Sequence[InstallmentState], on: date
) -> OutstandingV1:
    """What is owed on a date: principal in full, the rest for installments due by then."""
    due = [i for i in installments if i.due_date <= on]
    principal = sum((i.owed(Component.PRINCIPAL) for i in installments), ZERO)
    interest = sum((i.owed(Component.INTEREST) for i in due), ZERO)
    fees = sum((i.owed(Component.FEES) for i in due), ZERO)
    penalties = sum((i.owed(Component.PENALTIES) for i in due), ZERO)
    return OutstandingV1(
        principal=_money(loan, principal),
        interest=_money(loan, interest),
        fees=_money(loan, fees),
        penalties=_money(loan, penalties),
        total=_money(loan, principal + interest + fees + penalties),
    )


async def post_entry(
    session: AsyncSession,
    *,
    loan_id: str | None,
    entry_type: str,
    lines: JournalLines,
    effective_date: date,
    now: datetime,
    reference: str | None,
) -> JournalEntryRow:
    """Stage one balanced entry (JournalLines refused it already if it did not balance)."""
    entry = JournalEntryRow(
        loan_id=loan_id,
        entry_type=entry_type,
        currency=lines.currency,
        effective_date=effective_date,
        created_at=now,
        reference=reference,
    )
    entry.postings = [
        PostingRow(
            account=p.account.value, side=p.side.value, amount=p.amount, currency=lines.currency
        )
        for p in lines.postings
    ]
    JournalRepository(session).add(entry)
    await session.flush()
    return entry


def _current_split(payment: PaymentRow) -> dict[Account, Decimal]:
    lines = [
        AllocationLine(a.installment_number, Component(a.component), a.amount)
        for a in payment.allocations
        if a.active
    ]
    return payment_split(component_totals(lines), payment.credit)


def component_totals(lines: Sequence[AllocationLine]) -> dict[str, Decimal]:
    """Allocation lines summed per component name."""
    return {c.value: v for c, v in totals_by_component(lines).items()}


def _lines_key(lines: Sequence[AllocationLine]) -> list[tuple[int, str, Decimal]]:
    return sorted((line.installment, line.component.value, line.amount) for line in lines)


def _validate_money(loan: LoanRow, amount: Decimal, currency: str) -> None:
    if currency != loan.currency:
        raise CurrencyMismatchError(f"loan {loan.id} is in {loan.currency}, not {currency}")
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmountError(f"amount must be greater than zero, got {amount}")
    if round_money(amount, loan.currency) != amount:
        raise InvalidAmountError(f"amount {amount} has more decimals than {loan.currency} allows")


def _validate_date(loan: LoanRow, when: date, today: date, what: str) -> None:
    if when < loan.disbursement_date:
        raise InvalidValueDateError(
            f"{what} {when} is before the disbursement date {loan.disbursement_date}"
        )
    if when > today:
        raise InvalidValueDateError(f"{what} {when} is after the business date {today}")


async def require_loan(session: AsyncSession, loan_id: str, *, lock: bool = False) -> LoanRow:
    """The booked loan, or LoanNotFoundError; a use case that changes the loan locks it
    (see LoanRepository.get), so close of business and the change take turns."""
    loan = await LoanRepository(session).get(loan_id, lock=lock)
    if loan is None:
        raise LoanNotFoundError(f"no loan {loan_id!r} is booked")
    return loan


# -- the replay ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResyncResult:
    """What a replay changed."""

    replay: ReplayResult
    became_paid_off: bool
    schedule_changed_from: int | None


async def resync(
    session: AsyncSession,
    loan: LoanRow,
    *,
    now: datetime,
    effective_date: date,
    new_payment_id: str | None = None,
) -> ResyncResult:
    """Replay every active event and bring allocations, ledger and installments in line."""
    payments_repo = PaymentRepository(session)
    payments = await payments_repo.for_loan(loan.id)
    charges = await payments_repo.charges_for_loan(loan.id)
    restructures = await payments_repo.restructures_for_loan(loan.id)
    ctx = loan_context(loan)
    engine = servicing_engine(loan, ctx)
    result = engine.replay(
        booked_installments(loan), replay_events(payments, charges, restructures)
    )

    for payment in payments:
        if payment.status != POSTED:
            continue
        applied = result.payments[payment.id]
        old_lines = [
            AllocationLine(a.installment_number, Component(a.component), a.amount)
            for a in payment.allocations
            if a.active
        ]
        fresh = payment.id == new_payment_id
        if (
            not fresh
            and _lines_key(old_lines) == _lines_key(applied.lines)
            and (payment.credit == applied.credit)
        ):
            payment.closed_loan = applied.closed_loan
            continue
        new_split = payment_split(component_totals(applied.lines), applied.credit)
        entry_id: int | None = payment.entry_id
        if not fresh:
            lines = reallocation_lines(loan.currency, _current_split(payment), new_split)
            if lines is not None:
                entry = await post_entry(
                    session,
                    loan_id=loan.id,
                    entry_type="reallocation",
                    lines=lines,
                    effective_date=effective_date,
                    now=now,
                    reference=payment.id,
                )
                entry_id = entry.id
            for row in payment.allocations:
                row.active = False
        for line in applied.lines:
            payment.allocations.append(
                PaymentAllocationRow(
                    loan_id=loan.id,
                    installment_number=line.installment,
                    component=line.component.value,
                    amount=line.amount,
                    active=True,
                    allocated_at=now,
                    entry_id=entry_id,
                )
            )
        payment.credit = _money(loan, applied.credit)
        payment.closed_loan = applied.closed_loan

    changed_from = _store_installments(loan, result.installments)
    was_paid_off = loan.status == LoanStatus.PAID_OFF.value
    loan.status = (
        LoanStatus.PAID_OFF.value if result.state is LoanState.PAID_OFF else LoanStatus.ACTIVE.value
    )
    loan.paid_off_on = result.paid_off_on
    loan.closing_payment_id = result.closing_payment_id
    loan.credit_balance = _money(loan, result.credit_balance)
    await session.flush()
    became_paid_off = not was_paid_off and result.state is LoanState.PAID_OFF
    await _true_up_capitalisation(session, loan, result, now=now, effective_date=effective_date)
    await _true_up_interest(session, loan, now=now, effective_date=effective_date)
    if changed_from is not None:
        await _stage_schedule_changed(session, loan, result, changed_from, effective_date, now)
    return ResyncResult(result, became_paid_off, changed_from)


async def _true_up_interest(
    session: AsyncSession, loan: LoanRow, *, now: datetime, effective_date: date
) -> None:
    """Keep the loan's interest receivable at what accrual and payments say it is.

    Active: interest accrued by close of business minus interest paid (negative when paid
    in advance). Paid off: zero; the closing true-up takes back accrual beyond the interest
    paid (interest waived at payoff) or recognises interest paid beyond it. A reopened loan
    gets its receivable back the same way.
    """
    cob = CobRepository(session)
    accrued = await cob.accrued_for_loan(loan.id)
    if loan.status == LoanStatus.ACTIVE.value:
        paid = sum((r.paid_interest for r in LoanRepository.current_installments(loan)), ZERO)
        adjusted = (await PaymentRepository(session).accrual_adjustments(loan.id)).get(
            loan.id, ZERO
        )
        target = accrued + adjusted - paid
    else:
        target = ZERO
    ledger = accrued + await cob.loan_account_balance(loan.id, Account.INTEREST_RECEIVABLE.value)
    lines = interest_accrual_lines(loan.currency, _money(loan, target - ledger))
    if lines is None:
        return
    await post_entry(
        session,
        loan_id=loan.id,
        entry_type="accrual_true_up",
        lines=lines,
        effective_date=effective_date,
        now=now,
        reference=loan.id,
    )


async def _true_up_capitalisation(
    session: AsyncSession,
    loan: LoanRow,
    result: ReplayResult,
    *,
    now: datetime,
    effective_date: date,
) -> None:
    """Keep the principal receivable's capitalised interest at what the replay says.

    A payment holiday with capitalisation adds its interest to the principal (income
    recognised when capitalised). A backdated payment before the holiday changes the
    principal it was computed on, so the capitalised amount is a replay figure too: the
    ledger gets the difference.
    """
    posted = await CobRepository(session).loan_account_balance(
        loan.id, Account.LOANS_RECEIVABLE_PRINCIPAL.value, "interest_capitalisation"
    )
    lines = capitalisation_lines(loan.currency, _money(loan, result.capitalised - posted))
    if lines is None:
        return
    await post_entry(
        session,
        loan_id=loan.id,
        entry_type="interest_capitalisation",
        lines=lines,
        effective_date=effective_date,
        now=now,
        reference=loan.id,
    )


def _store_installments(loan: LoanRow, installments: Sequence[InstallmentState]) -> int | None:
    """Update paid parts in place; a changed schedule (amounts or dates) gets a new version.

    Returns the previous version number when a new one was written.
    """
    current = LoanRepository.current_installments(loan)
    shape_now = [(r.number, r.due_date, r.principal, r.interest) for r in current]
    shape_new = [(i.number, i.due_date, i.principal, i.interest) for i in installments]
    if shape_now == shape_new:
        by_number = {i.number: i for i in installments}
        for row in current:
            _copy_into(row, by_number[row.number], loan.currency)
        return None
    previous = loan.schedule_version
    loan.schedule_version = previous + 1
    before = {(r.number, r.due_date): r.status for r in current}
    for state in installments:
        row = InstallmentRow(schedule_version=loan.schedule_version, number=state.number)
        row.due_date = state.due_date
        row.principal = state.principal
        row.interest = state.interest
        # Due and overdue come from close of business: an installment kept as it was
        # keeps them (close of business marks only what falls due from now on).
        row.status = before.get((state.number, state.due_date), "pending")
        _copy_into(row, state, loan.currency)
        loan.installments.append(row)
    return previous


def _copy_into(row: InstallmentRow, state: InstallmentState, currency: str) -> None:
    row.fees = round_money(state.fees, currency)
    row.penalties = round_money(state.penalties, currency)
    row.paid_principal = round_money(state.paid_principal, currency)
    row.paid_interest = round_money(state.paid_interest, currency)
    row.paid_fees = round_money(state.paid_fees, currency)
    row.paid_penalties = round_money(state.paid_penalties, currency)
    row.total = round_money(
        state.principal + state.interest + state.fees + state.penalties, currency
    )
    if state.remaining <= 0:
        row.status = "paid"
    elif row.status not in ("due", "overdue"):
        # Due and overdue are set by close of business; a replay keeps them.
        row.status = "pending"


async def _stage_schedule_changed(
    session: AsyncSession,
    loan: LoanRow,
    result: ReplayResult,
    previous: int,
    effective_date: date,
    now: datetime,
) -> None:
    installments = result.installments
    open_ = [i for i in installments if i.remaining > 0]
    reason = result.schedule_changes[-1] if result.schedule_changes else "replay"
    await stage_event(
        session,
        LoanScheduleChangedV1(
            loan_id=loan.id,
            schedule_version=loan.schedule_version,
            previous_version=previous,
            reason=reason,
            effective_date=effective_date,
            currency=loan.currency,
            installments=len(installments),
            installment_amount=_money(
                loan, open_[0].principal + open_[0].interest if open_ else ZERO
            ),
            principal_outstanding=_money(
                loan, sum((i.owed(Component.PRINCIPAL) for i in installments), ZERO)
            ),
            last_due_date=max((i.due_date for i in installments), default=None),
        ),
        source=EVENT_SOURCE,
        subject=loan.id,
        now=now,
    )


async def _stage_paid_off(
    session: AsyncSession,
    loan: LoanRow,
    result: ReplayResult,
    payments: Sequence[PaymentRow],
    now: datetime,
) -> None:
    assert result.paid_off_on is not None
    assert result.closing_payment_id is not None
    total = sum((p.amount for p in payments if p.status == POSTED), ZERO)
    await stage_event(
        session,
        LoanPaidOffV1(
            loan_id=loan.id,
            paid_off_on=result.paid_off_on,
            closing_payment_id=result.closing_payment_id,
            currency=loan.currency,
            total_paid=_money(loan, total),
            credit_balance=_money(loan, result.credit_balance),
        ),
        source=EVENT_SOURCE,
        subject=loan.id,
        now=now,
    )


def _view(loan: LoanRow, payment: PaymentRow) -> PaymentView:
    return payment_view(payment, loan.status)


def payment_view(payment: PaymentRow, loan_status: str) -> PaymentView:
    """A stored payment with its active allocation rows."""
    lines = tuple(
        AllocationLine(a.installment_number, Component(a.component), a.amount)
        for a in sorted(payment.allocations, key=lambda a: a.id or 0)
        if a.active
    )
    return PaymentView(
        id=payment.id,
        loan_id=payment.loan_id,
        external_ref=payment.external_ref,
        amount=payment.amount,
        currency=payment.currency,
        value_date=payment.value_date,
        status=payment.status,
        received_at=payment.received_at,
        reversed_at=payment.reversed_at,
        lines=lines,
        credit=payment.credit,
        closed_loan=payment.closed_loan,
        loan_status=loan_status,
    )


# -- use cases ----------------------------------------------------------------------


async def announce_payment(
    session: AsyncSession, loan: LoanRow, payment: PaymentRow, sync: ResyncResult, *, now: datetime
) -> None:
    """Stage `RepaymentReceived` for a payment the replay just applied, and `LoanPaidOff` if
    it paid the loan off."""
    applied = sync.replay.payments[payment.id]
    totals = component_totals(applied.lines)
    await stage_event(
        session,
        RepaymentReceivedV1(
            loan_id=loan.id,
            payment_id=payment.id,
            external_ref=payment.external_ref,
            amount=payment.amount,
            currency=payment.currency,
            value_date=payment.value_date,
            received_at=now,
            allocation=AllocationSummaryV1(
                principal=_money(loan, totals["principal"]),
                interest=_money(loan, totals["interest"]),
                fees=_money(loan, totals["fees"]),
                penalties=_money(loan, totals["penalties"]),
                credit=_money(loan, applied.credit),
            ),
            outstanding=_outstanding_on(loan, sync.replay.installments, payment.value_date),
        ),
        source=EVENT_SOURCE,
        subject=loan.id,
        now=now,
    )
    if sync.became_paid_off:
        payments = await PaymentRepository(session).for_loan(loan.id)
        await _stage_paid_off(session, loan, sync.replay, payments, now)


async def record_repayment(
    uow: UnitOfWork,
    loan_id: str,
    *,
    amount: Decimal,
    currency: str,
    value_date: date,
    external_ref: str,
    received_by: str,
    now: datetime,
    today: date,
) -> RepaymentOutcome:
    """Post a repayment (backdated ones replay the later ones) and commit once."""
    session = uow.session
    loan = await require_loan(session, loan_id, lock=True)
    payments_repo = PaymentRepository(session)
    existing = await payments_repo.by_external_ref(loan.id, external_ref)
    if existing is not None:
        if existing.amount != amount or existing.currency != currency:
            raise ExternalRefConflictError(
                f"external_ref {external_ref!r} was already used on loan {loan.id} "
                f"for {existing.amount} {existing.currency}"
            )
        return RepaymentOutcome(_view(loan, existing), created=False)
    _validate_money(loan, amount, currency)
    _validate_date(loan, value_date, today, "value_date")
    amount = round_money(amount, loan.currency)  # 50 is stored and shown as 50.00
    if loan.status in CLOSED_STATUSES:
        raise LoanClosedError(f"loan {loan.id} is {loan.status}; it takes no more payments")

    loan.event_seq += 1
    payment = PaymentRow(
        id=f"PAY-{uuid.uuid4().hex}",
        loan_id=loan.id,
        external_ref=external_ref,
        amount=amount,
        currency=currency,
        value_date=value_date,
        seq=loan.event_seq,
        status=POSTED,
        credit=_money(loan, ZERO),
        closed_loan=False,
        received_at=now,
        received_by=received_by,
        statement_line_id=None,
    )
    payment.allocations = []
    # The allocation is only known after the replay; post the entry from it below.
    sync = await _resync_new_payment(session, loan, payment, now=now)
    await announce_payment(session, loan, payment, sync, now=now)
    view = _view(loan, payment)
    await uow.commit()
    return RepaymentOutcome(view, created=True)


async def _resync_new_payment(
    session: AsyncSession, loan: LoanRow, payment: PaymentRow, *, now: datetime
) -> ResyncResult:
    """Replay with the new payment, then post its entry from the allocation it got."""
    ctx_engine = servicing_engine(loan, loan_context(loan))
    payments_repo = PaymentRepository(session)
    others = await payments_repo.for_loan(loan.id)
    charges = await payments_repo.charges_for_loan(loan.id)
    restructures = await payments_repo.restructures_for_loan(loan.id)
    events = replay_events(
        [p for p in others if p.id != payment.id] + [payment], charges, restructures
    )
    preview = ctx_engine.replay(booked_installments(loan), events)
    applied = preview.payments[payment.id]
    split = payment_split(component_totals(applied.lines), applied.credit)
    entry = await post_entry(
        session,
        loan_id=loan.id,
        entry_type="repayment",
        lines=payment_lines(loan.currency, payment.amount, split),
        effective_date=payment.value_date,
        now=now,
        reference=payment.id,
    )
    payment.entry_id = entry.id
    payments_repo.add(payment)
    await session.flush()
    return await resync(
        session, loan, now=now, effective_date=payment.value_date, new_payment_id=payment.id
    )


async def reverse_repayment(
    uow: UnitOfWork, loan_id: str, payment_id: str, *, now: datetime, today: date
) -> PaymentView:
    """Reverse a payment: a mirror entry, then every later payment re-applied."""
    session = uow.session
    loan = await require_loan(session, loan_id, lock=True)
    payments_repo = PaymentRepository(session)
    payment = await payments_repo.get(loan.id, payment_id)
    if payment is None:
        raise PaymentNotFoundError(f"no payment {payment_id!r} on loan {loan.id}")
    if payment.status == REVERSED:
        raise PaymentAlreadyReversedError(f"payment {payment_id} is already reversed")
    entry = await post_entry(
        session,
        loan_id=loan.id,
        entry_type="repayment_reversal",
        lines=reversal_lines(loan.currency, payment.amount, _current_split(payment)),
        effective_date=today,
        now=now,
        reference=payment.id,
    )
    payment.status = REVERSED
    payment.reversed_at = now
    payment.reversal_entry_id = entry.id
    payment.closed_loan = False
    loan.event_seq += 1
    for row in payment.allocations:
        row.active = False
    await session.flush()
    was_paid_off = loan.status == LoanStatus.PAID_OFF.value
    sync = await resync(session, loan, now=now, effective_date=today)
    await stage_event(
        session,
        RepaymentReversedV1(
            loan_id=loan.id,
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            value_date=payment.value_date,
            reversed_at=now,
            loan_status=loan.status,
            outstanding=_outstanding_on(loan, sync.replay.installments, today),
        ),
        source=EVENT_SOURCE,
        subject=loan.id,
        now=now,
    )
    if sync.became_paid_off and not was_paid_off:
        await _stage_paid_off(
            session, loan, sync.replay, await payments_repo.for_loan(loan.id), now
        )
    view = _view(loan, payment)
    await uow.commit()
    return view


async def charge_installment(
    uow: UnitOfWork,
    loan_id: str,
    *,
    component: str,
    amount: Decimal,
    currency: str,
    installment_number: int,
    charge_date: date,
    reason: str,
    now: datetime,
    today: date,
) -> ChargeRow:
    """Charge a fee or penalty to an installment: one entry, then a replay (held money pays it)."""
    session = uow.session
    loan = await require_loan(session, loan_id, lock=True)
    if component not in (Component.FEES.value, Component.PENALTIES.value):
        raise InvalidChargeError(f"only fees or penalties can be charged, not {component!r}")
    _validate_money(loan, amount, currency)
    _validate_date(loan, charge_date, today, "charge_date")
    amount = round_money(amount, loan.currency)
    if loan.status in CLOSED_STATUSES:
        raise LoanClosedError(f"loan {loan.id} is {loan.status}; nothing can be charged")
    if installment_number not in {i.number for i in LoanRepository.current_installments(loan)}:
        raise InvalidChargeError(f"loan {loan.id} has no installment {installment_number}")
    charge_id = f"CHG-{uuid.uuid4().hex}"
    entry = await post_entry(
        session,
        loan_id=loan.id,
        entry_type=f"charge_{component}",
        lines=charge_lines(loan.currency, component, amount),
        effective_date=charge_date,
        now=now,
        reference=charge_id,
    )
    loan.event_seq += 1
    charge = ChargeRow(
        id=charge_id,
        loan_id=loan.id,
        installment_number=installment_number,
        component=component,
        amount=amount,
        currency=currency,
        charge_date=charge_date,
        reason=reason,
        seq=loan.event_seq,
        created_at=now,
        entry_id=entry.id,
    )
    PaymentRepository(session).add_charge(charge)
    await session.flush()
    await resync(session, loan, now=now, effective_date=charge_date)
    await uow.commit()
    return charge


async def get_payment(uow: UnitOfWork, loan_id: str, payment_id: str) -> PaymentView:
    """One payment with its current allocation."""
    loan = await require_loan(uow.session, loan_id)
    payment = await PaymentRepository(uow.session).get(loan.id, payment_id)
    if payment is None:
        raise PaymentNotFoundError(f"no payment {payment_id!r} on loan {loan.id}")
    return _view(loan, payment)


@dataclass(frozen=True, slots=True)
class QuoteView:
    """A payoff quote with the loan's currency."""

    loan_id: str
    currency: str
    quote: PayoffQuote


async def quote_payoff(uow: UnitOfWork, loan_id: str, *, on: date) -> QuoteView:
    """The payoff quote on a date, from the events with a value date up to that day."""
    session = uow.session
    loan = await require_loan(session, loan_id)
    if loan.status in CLOSED_STATUSES:
        raise LoanClosedError(f"loan {loan.id} is {loan.status}; nothing is owed")
    if on < loan.disbursement_date:
        raise InvalidValueDateError(f"date {on} is before the disbursement date")
    repo = PaymentRepository(session)
    events = [
        e
        for e in replay_events(
            await repo.for_loan(loan.id),
            await repo.charges_for_loan(loan.id),
            await repo.restructures_for_loan(loan.id),
        )
        if event_date(e) <= on
    ]
    ctx = loan_context(loan)
    replay = servicing_engine(loan, ctx).replay(booked_installments(loan), events)
    quote = payoff_quote(replay.ctx or ctx, replay.installments, on)
    rounded = PayoffQuote(
        on=on,
        principal=_money(loan, quote.principal),
        interest=_money(loan, quote.interest),
        fees=_money(loan, quote.fees),
        penalties=_money(loan, quote.penalties),
    )
    return QuoteView(loan.id, loan.currency, rounded)


__all__ = [
    "PaymentView",
    "QuoteView",
    "RepaymentOutcome",
    "announce_payment",
    "charge_installment",
    "component_totals",
    "get_payment",
    "payment_view",
    "quote_payoff",
    "record_repayment",
    "replay_events",
    "require_loan",
    "resync",
    "reverse_repayment",
]
