"""Reading the ledger: trial balance, a loan's money movements, and reconciliation of
every loan's balances recomputed from postings against its installments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lms.adapters.cob import CobRepository
from lms.adapters.orm import JournalEntryRow, LoanRow, PaymentRow
from lms.adapters.repository import JournalRepository, LoanRepository, PaymentRepository
from lms.domain.errors import LoanNotFoundError
from lms.domain.ledger import Account
from lms.domain.loan import LoanStatus
from servicekit.db import UnitOfWork

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One account's totals in one currency; balance is debits minus credits."""

    account: str
    currency: str
    debits: Decimal
    credits: Decimal

    @property
    def balance(self) -> Decimal:
        """Debits minus credits."""
        return self.debits - self.credits


async def trial_balance(uow: UnitOfWork) -> list[AccountLine]:
    """Every account with postings, per currency (the balances of a currency sum to zero)."""
    rows = await JournalRepository(uow.session).account_totals()
    return [AccountLine(a, c, d, k) for a, c, d, k in rows]


@dataclass(frozen=True, slots=True)
class Movement:
    """One journal entry of a loan and the payment it belongs to, if any."""

    entry: JournalEntryRow
    payment: PaymentRow | None
    loan_status: str


async def loan_transactions(
    uow: UnitOfWork, loan_id: str, *, limit: int, offset: int
) -> tuple[list[Movement], int]:
    """A page of the loan's journal entries, each with its payment and allocation."""
    session = uow.session
    loan = await LoanRepository(session).get(loan_id)
    if loan is None:
        raise LoanNotFoundError(f"no loan {loan_id!r} is booked")
    entries, total = await JournalRepository(session).page_for_loan(
        loan_id, limit=limit, offset=offset
    )
    payments = {p.id: p for p in await PaymentRepository(session).for_loan(loan_id)}
    return [Movement(e, payments.get(e.reference or ""), loan.status) for e in entries], total


@dataclass(frozen=True, slots=True)
class Difference:
    """A balance the ledger and the installments disagree on."""

    loan_id: str
    balance: str
    ledger: Decimal
    installments: Decimal


@dataclass
class ReconciliationReport:
    """Loans checked and every difference found."""

    loans_checked: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the ledger and the installments agree everywhere."""
        return not self.differences


def compare_loan(
    loan: LoanRow, balances: dict[str, Decimal], accrued: Decimal = ZERO, adjusted: Decimal = ZERO
) -> list[Difference]:
    """The loan's balances from postings against its current installments and credit.

    `accrued` is what close of business accrued on the loan: its daily entries are posted
    per chunk and currency, so their share of interest_receivable comes from the accrual
    detail. The receivable must be accrued minus interest paid while the loan is active
    (negative: received in advance), and zero once it is paid off (closing true-up).
    `adjusted` is the accrual re-basing restructures posted (on the loan's own entries).
    """
    rows = LoanRepository.current_installments(loan)

    def ledger(account: Account, sign: int = 1) -> Decimal:
        return sign * balances.get(account.value, ZERO)

    paid_interest = sum((r.paid_interest for r in rows), ZERO)
    closed = loan.status in (LoanStatus.PAID_OFF.value, LoanStatus.CLOSED.value)
    # A written-off loan's receivables were all taken off the books by the write-off entry.
    written_off = loan.status == LoanStatus.WRITTEN_OFF.value

    def owed(amount: Decimal) -> Decimal:
        return ZERO if written_off else amount

    pairs: Sequence[tuple[str, Decimal, Decimal]] = (
        (
            "principal",
            ledger(Account.LOANS_RECEIVABLE_PRINCIPAL),
            owed(sum((r.principal - r.paid_principal for r in rows), ZERO)),
        ),
        (
            "fees",
            ledger(Account.FEES_RECEIVABLE),
            owed(sum((r.fees - r.paid_fees for r in rows), ZERO)),
        ),
        (
            "penalties",
            ledger(Account.PENALTIES_RECEIVABLE),
            owed(sum((r.penalties - r.paid_penalties for r in rows), ZERO)),
        ),
        (
            "interest_receivable",
            ledger(Account.INTEREST_RECEIVABLE) + accrued,
            ZERO if closed or written_off else accrued + adjusted - paid_interest,
        ),
        ("credit", ledger(Account.OVERPAYMENT_LIABILITY, -1), loan.credit_balance),
    )
    return [Difference(loan.id, name, a, b) for name, a, b in pairs if a != b]


async def reconcile(uow: UnitOfWork) -> ReconciliationReport:
    """Recompute every loan's balances from postings and compare with its installments."""
    session = uow.session
    balances = await JournalRepository(session).loan_account_balances()
    accrued, unposted = await CobRepository(session).accrual_totals()
    payments = PaymentRepository(session)
    adjusted = await payments.accrual_adjustments()
    report = ReconciliationReport()
    for loan in await payments.all_loans_with_installments():
        report.loans_checked += 1
        report.differences += compare_loan(
            loan,
            balances.get(loan.id, {}),
            accrued.get(loan.id, ZERO),
            adjusted.get(loan.id, ZERO),
        )
    # Every charge and accrual detail row points at a loan and an entry that exist.
    for name, count in (await CobRepository(session).dangling_references()).items():
        if count:
            report.differences.append(Difference("*", name, Decimal(count), ZERO))
    # The accrual detail must add up to the accrual entries posted, per currency.
    for currency, gap in sorted(unposted.items()):
        if gap:
            report.differences.append(Difference("*", f"accrual_entries_{currency}", gap, ZERO))
    return report
