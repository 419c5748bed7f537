"""Loan terms as the LMS services them: contract values mapped onto loanmath's conventions.

The contract may add enum values in a minor version, so every value is mapped through an
explicit table here; anything the table does not know is refused, never guessed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from lending_schemas import LoanDisbursedV1
from lms.domain.errors import InconsistentTermsError, UnsupportedTermsError
from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    LoanMathError,
    RoundingMode,
    Schedule,
    ScheduleTerms,
    build_schedule,
    get_currency,
    is_supported_currency,
    round_money,
)

METHODS: Mapping[str, AmortizationMethod] = {
    "annuity": AmortizationMethod.ANNUITY,
    "equal_principal": AmortizationMethod.EQUAL_PRINCIPAL,
    "interest_only": AmortizationMethod.INTEREST_ONLY,
    "bullet": AmortizationMethod.BULLET,
    "flat": AmortizationMethod.FLAT,
}
FREQUENCIES: Mapping[str, Frequency] = {
    "daily": Frequency.DAILY,
    "weekly": Frequency.WEEKLY,
    "biweekly": Frequency.BIWEEKLY,
    "monthly": Frequency.MONTHLY,
    "quarterly": Frequency.QUARTERLY,
    "semi_annual": Frequency.SEMI_ANNUAL,
    "annual": Frequency.ANNUAL,
    "whole_term": Frequency.WHOLE_TERM,
}
DAY_COUNTS: Mapping[str, DayCount] = {
    "30/360": DayCount.THIRTY_360,
    "30/360 US": DayCount.THIRTY_360_US,
    "30E/360": DayCount.THIRTY_E_360,
    "ACT/360": DayCount.ACT_360,
    "ACT/365F": DayCount.ACT_365F,
    "ACT/ACT ISDA": DayCount.ACT_ACT_ISDA,
}
INTEREST_BASES: Mapping[str, InterestBasis] = {
    "equal_periods": InterestBasis.EQUAL_PERIODS,
    "day_count": InterestBasis.DAY_COUNT,
}
ROUNDING_MODES: Mapping[str, RoundingMode] = {mode.value: mode for mode in RoundingMode}

_E = TypeVar("_E", bound=Enum)


def map_term(table: Mapping[str, _E], value: str, what: str) -> _E:
    """Look a contract value up in a mapping table, refusing unknown values."""
    try:
        return table[value]
    except KeyError:
        raise UnsupportedTermsError(f"unsupported {what} {value!r}") from None


def check_currency(code: str) -> str:
    """Only ISO 4217 currencies loanmath knows can be serviced (rounding needs the minor unit)."""
    if not is_supported_currency(code):
        raise UnsupportedTermsError(f"unsupported currency {code!r}")
    return code


@dataclass(frozen=True, slots=True)
class FeeTerm:
    """One origination fee as agreed."""

    code: str
    amount: Decimal
    treatment: str


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Everything the LMS services a loan by, validated and mapped onto loanmath enums."""

    principal: Decimal
    net_disbursed: Decimal
    currency: str
    annual_rate: Decimal
    term: int
    disbursement_date: date
    first_due_date: date
    method: AmortizationMethod
    frequency: Frequency
    day_count: DayCount
    interest_basis: InterestBasis
    rounding_mode: RoundingMode
    fees: tuple[FeeTerm, ...]

    @property
    def deducted_fees(self) -> Decimal:
        """Fees kept back from the payout, the difference between principal and net disbursed."""
        return sum((f.amount for f in self.fees if f.treatment == "deducted"), Decimal(0))

    def schedule_terms(self) -> ScheduleTerms:
        """The loanmath terms; the LOS offer was built from the same ones."""
        try:
            return ScheduleTerms(
                principal=self.principal,
                currency=self.currency,
                annual_rate=self.annual_rate,
                term=self.term,
                disbursement_date=self.disbursement_date,
                first_due_date=self.first_due_date,
                frequency=self.frequency,
                method=self.method,
                day_count=self.day_count,
                interest_basis=self.interest_basis,
                rounding_mode=self.rounding_mode,
            )
        except LoanMathError as exc:
            raise UnsupportedTermsError(str(exc)) from exc


def terms_from_event(event: LoanDisbursedV1) -> LoanTerms:
    """Validate a disbursed loan's terms for servicing; raise a domain error if it cannot be."""
    currency = check_currency(event.currency)
    if event.grace_principal_periods or event.grace_interest_periods:
        raise UnsupportedTermsError("grace periods are not supported by the schedule engine yet")
    fees = tuple(FeeTerm(f.code, f.amount, f.treatment) for f in event.fees)
    terms = LoanTerms(
        principal=event.principal,
        net_disbursed=event.net_disbursed,
        currency=currency,
        annual_rate=event.annual_rate,
        term=event.term,
        disbursement_date=event.disbursement_date,
        first_due_date=event.first_due_date,
        method=map_term(METHODS, event.amortization, "amortization method"),
        frequency=map_term(FREQUENCIES, event.frequency, "frequency"),
        day_count=map_term(DAY_COUNTS, event.day_count, "day count"),
        interest_basis=map_term(INTEREST_BASES, event.interest_basis, "interest basis"),
        rounding_mode=map_term(ROUNDING_MODES, event.rounding_mode, "rounding mode"),
        fees=fees,
    )
    check_amounts(terms)
    return terms


def check_amounts(terms: LoanTerms) -> None:
    """Money figures must sit on the currency's minor unit and net disbursed must add up."""
    minor = get_currency(terms.currency).minor_units
    amounts = [("principal", terms.principal), ("net_disbursed", terms.net_disbursed)]
    amounts += [(f"fee {f.code}", f.amount) for f in terms.fees]
    for what, amount in amounts:
        if round_money(amount, terms.currency) != amount:
            raise UnsupportedTermsError(
                f"{what} {amount} has more than {minor} decimals for {terms.currency}"
            )
    if terms.principal - terms.deducted_fees != terms.net_disbursed:
        raise InconsistentTermsError(
            f"net_disbursed {terms.net_disbursed} is not principal {terms.principal} "
            f"minus deducted fees {terms.deducted_fees}"
        )


def _canonical(value: Any) -> Any:
    """Equal values give equal JSON: decimals normalised, dates as ISO text."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


# Optional fields added to LoanDisbursed after loans were booked: left out of the digest
# while unset, so a loan booked before keeps its fingerprint when its event is re-sent.
_LATER_OPTIONAL_FIELDS = ("settles_loan_id",)


def terms_fingerprint(event: LoanDisbursedV1) -> str:
    """A digest of every term in the event, so a re-sent loan can be told apart from a change."""
    fields = event.model_dump(mode="python")
    for name in _LATER_OPTIONAL_FIELDS:
        if fields.get(name) is None:
            fields.pop(name, None)
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def build_loan_schedule(terms: LoanTerms) -> Schedule:
    """The schedule from loanmath, refused if it cannot be serviced.

    loanmath accepts a principal so small that regular installments round to zero;
    such a loan cannot be announced (installment amounts must be positive), so it is refused.
    """
    try:
        schedule = build_schedule(terms.schedule_terms())
    except LoanMathError as exc:
        raise UnsupportedTermsError(str(exc)) from exc
    empty = [row.number for row in schedule.minor_rows() if row.total <= 0]
    if empty:
        raise UnsupportedTermsError(
            f"principal {terms.principal} {terms.currency} is too small for {terms.term} "
            f"installments: installments {empty} would be zero"
        )
    return schedule
