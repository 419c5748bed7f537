"""Portfolio figures from per-loan facts as of a date: outstanding, PAR, NPA, flows.

Definitions (the report's documentation repeats them):

- outstanding: what the borrower owes per component, from the ledger as of the date
  (principal, interest receivable, fees and penalties receivable); interest received in
  advance (a negative receivable) counts as zero owed.
- PAR n (portfolio at risk): outstanding principal of loans more than n days past due,
  over the outstanding principal of every loan, both as of the date. A loan's days past due
  as of a date come from its bucket then: a loan counts at threshold n when its bucket
  starts above n (with the default buckets that is exactly "more than n days").
- NPA ratio: outstanding principal of non-performing loans over all outstanding principal.
- collections efficiency: of what fell due in the period (installments due from `from` to
  `to`), the share paid by payments valued on or before `to`.
Ratios are rounded half-even to four decimals; a ratio over nothing is None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from lms.domain.delinquency import Bucket

ZERO = Decimal(0)
RATIO_PLACES = Decimal("0.0001")
PAR_THRESHOLDS = (30, 60, 90)
COMPONENTS = ("principal", "interest", "fees", "penalties")


def ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole to four decimals (half-even), None when the whole is zero."""
    if not whole:
        return None
    return (part / whole).quantize(RATIO_PLACES, rounding=ROUND_HALF_EVEN)


def bucket_floor(label: str, buckets: Sequence[Bucket]) -> int:
    """The fewest days past due a bucket holds (0 for the first, or an unknown label)."""
    floor = 0
    for bucket in buckets:
        if bucket.label == label:
            return floor
        if bucket.up_to is not None:
            floor = bucket.up_to + 1
    return 0


@dataclass(frozen=True, slots=True)
class Outstanding:
    """What is owed per component; `total` adds them."""

    principal: Decimal = ZERO
    interest: Decimal = ZERO
    fees: Decimal = ZERO
    penalties: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """Principal, interest, fees and penalties together."""
        return self.principal + self.interest + self.fees + self.penalties

    def __add__(self, other: Outstanding) -> Outstanding:
        return Outstanding(
            self.principal + other.principal,
            self.interest + other.interest,
            self.fees + other.fees,
            self.penalties + other.penalties,
        )

    @classmethod
    def owed(cls, balances: dict[str, Decimal]) -> Outstanding:
        """From receivable balances by component; money held in advance is not owed."""
        return cls(*(max(balances.get(c, ZERO), ZERO) for c in COMPONENTS))


@dataclass(frozen=True, slots=True)
class LoanFacts:
    """One loan as of the report date."""

    loan_id: str
    product_code: str
    currency: str
    status: str
    bucket: str
    days_past_due_floor: int
    non_performing: bool
    outstanding: Outstanding


@dataclass
class BucketLine:
    """Loans of one product in one bucket."""

    product_code: str
    bucket: str
    loans: int = 0
    outstanding: Outstanding = field(default_factory=Outstanding)


@dataclass
class CurrencyPortfolio:
    """The report for one currency (amounts of different currencies never add up)."""

    currency: str
    loans: int = 0
    outstanding: Outstanding = field(default_factory=Outstanding)
    at_risk: dict[int, Decimal] = field(default_factory=dict)
    non_performing_principal: Decimal = ZERO
    lines: dict[tuple[str, str], BucketLine] = field(default_factory=dict)
    disbursed: Decimal = ZERO
    collected: Decimal = ZERO
    due_in_period: Decimal = ZERO
    paid_of_due: Decimal = ZERO

    def par(self, days: int) -> Decimal | None:
        """Portfolio at risk beyond `days` days past due."""
        return ratio(self.at_risk.get(days, ZERO), self.outstanding.principal)

    @property
    def npa_ratio(self) -> Decimal | None:
        """Non-performing share of the outstanding principal."""
        return ratio(self.non_performing_principal, self.outstanding.principal)

    @property
    def collections_efficiency(self) -> Decimal | None:
        """Share of what fell due in the period that was paid by the period's end."""
        return ratio(self.paid_of_due, self.due_in_period)


def aggregate(loans: Iterable[LoanFacts]) -> dict[str, CurrencyPortfolio]:
    """Per currency: totals, PAR numerators, NPA and lines by product and bucket.

    Only loans that still owe something count (a repaid loan is out of the portfolio).
    """
    portfolios: dict[str, CurrencyPortfolio] = {}
    for loan in loans:
        if loan.outstanding.total <= 0:
            continue
        book = portfolios.setdefault(loan.currency, CurrencyPortfolio(loan.currency))
        book.loans += 1
        book.outstanding += loan.outstanding
        principal = loan.outstanding.principal
        for days in PAR_THRESHOLDS:
            if loan.days_past_due_floor > days:
                book.at_risk[days] = book.at_risk.get(days, ZERO) + principal
        if loan.non_performing:
            book.non_performing_principal += principal
        key = (loan.product_code, loan.bucket)
        line = book.lines.setdefault(key, BucketLine(loan.product_code, loan.bucket))
        line.loans += 1
        line.outstanding += loan.outstanding
    return portfolios
