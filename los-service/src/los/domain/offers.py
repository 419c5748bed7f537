"""Offers: the schedule, fees and APR promised to the borrower, from loanmath only.

The offer is built with `build_schedule` on the product's terms, and the LMS rebuilds
the booked schedule from the same terms, so both agree to the cent. With the
equal-periods interest basis the disbursement date does not change the figures, so a
loan disbursed a few days after the offer still matches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from loanmath import (
    Frequency,
    Schedule,
    ScheduleTerms,
    annual_percentage_rate,
    build_schedule,
    due_dates,
    eu_aprc,
    periods_per_year,
)
from los.domain.products import Product


@dataclass(frozen=True, slots=True)
class OfferFee:
    """One fee of the offer in money."""

    code: str
    amount: Decimal
    treatment: str


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    """One previewed installment."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class Offer:
    """Everything promised to the borrower; stored so disbursement uses exactly these terms."""

    product_code: str
    product_version: int
    principal: Decimal
    currency: str
    annual_rate: Decimal
    grade: str
    term: int
    installment_amount: Decimal
    total_repayable: Decimal
    total_interest: Decimal
    fees: tuple[OfferFee, ...]
    apr: Decimal
    offer_date: date
    first_due_date: date
    last_due_date: date
    created_at: datetime
    expires_at: datetime
    schedule: tuple[ScheduleLine, ...]
    aprc: Decimal | None = None

    def _fees(self, treatment: str) -> Decimal:
        return sum((f.amount for f in self.fees if f.treatment == treatment), Decimal(0))

    @property
    def deducted_fees(self) -> Decimal:
        """Fees taken out of the payout."""
        return self._fees("deducted")

    @property
    def financed_fees(self) -> Decimal:
        """Fees capitalised into the principal."""
        return self._fees("financed")

    @property
    def upfront_fees(self) -> Decimal:
        """Fees the borrower pays at signing, outside the loan."""
        return self._fees("upfront")

    @property
    def requested_amount(self) -> Decimal:
        """The credit asked for: the principal without financed fees."""
        return self.principal - self.financed_fees

    @property
    def amount_financed(self) -> Decimal:
        """Cash the borrower actually gets the use of: the APR's base (Reg Z)."""
        return self.requested_amount - self.deducted_fees - self.upfront_fees

    @property
    def net_disbursed(self) -> Decimal:
        """What the borrower actually receives."""
        return self.principal - self.deducted_fees

    def is_expired(self, now: datetime) -> bool:
        """Whether the offer can no longer be accepted at `now`."""
        return now >= self.expires_at


def first_due_date_for(offer_date: date, frequency: Frequency) -> date:
    """One period after the offer date, by loanmath's calendar (a month end stays a month end)."""
    return due_dates(offer_date, frequency, 2)[1]


def schedule_for(
    product: Product, principal: Decimal, annual_rate: Decimal, term: int, start: date
) -> Schedule:
    """The product's schedule for a principal, rate and term, starting on `start`."""
    terms = ScheduleTerms(
        principal=principal,
        currency=product.currency,
        annual_rate=annual_rate,
        term=term,
        disbursement_date=start,
        first_due_date=first_due_date_for(start, product.frequency),
        frequency=product.frequency,
        method=product.method,
        day_count=product.day_count,
        interest_basis=product.interest_basis,
        rounding_mode=product.rounding_mode,
    )
    return build_schedule(terms)


def build_offer(
    product: Product,
    *,
    principal: Decimal,
    grade: str,
    term: int,
    now: datetime,
    validity: timedelta,
) -> Offer:
    """Price an approved application: schedule, fees, APR and APRC on the amount financed.

    `principal` is the amount requested; fees are computed on it. Financed fees are added
    to the scheduled principal; deducted and upfront fees reduce the amount financed. The
    APR is the US actuarial rate over unit periods; the APRC the EU annual effective rate
    over ACT/365 times (both from loanmath, six decimals).
    """
    offer_date = now.date()
    rate = product.rate_for(grade)
    fees = tuple(
        OfferFee(rule.code, amount, rule.treatment)
        for rule in product.fees
        if (amount := rule.amount_for(principal, product.currency, product.rounding_mode)) > 0
    )
    financed = sum((f.amount for f in fees if f.treatment == "financed"), Decimal(0))
    prepaid = sum((f.amount for f in fees if f.treatment != "financed"), Decimal(0))
    schedule = schedule_for(product, principal + financed, rate, term, offer_date)
    payments = [line.total for line in schedule.installments]
    apr = annual_percentage_rate(principal - prepaid, payments, periods_per_year(product.frequency))
    aprc = eu_aprc(
        principal - prepaid,
        [(line.due_date, line.total) for line in schedule.installments],
        offer_date,
    )
    return Offer(
        product_code=product.code,
        product_version=product.version,
        principal=principal + financed,
        currency=product.currency,
        annual_rate=rate,
        grade=grade,
        term=term,
        installment_amount=schedule.installment_amount,
        total_repayable=schedule.total_repayable,
        total_interest=schedule.total_interest,
        fees=fees,
        apr=apr,
        offer_date=offer_date,
        first_due_date=schedule.first_due_date,
        last_due_date=schedule.last_due_date,
        created_at=now,
        expires_at=now + validity,
        schedule=tuple(
            ScheduleLine(i.number, i.due_date, i.principal, i.interest, i.total)
            for i in schedule.installments
        ),
        aprc=aprc,
    )
