"""The handoff to servicing: the LoanDisbursed event out, the LoanBooked check back in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lending_schemas import (
    FeeV1,
    LoanBookedV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
)
from los.domain.errors import OfferStaleError
from los.domain.offers import Offer
from los.domain.products import Product


@dataclass(frozen=True, slots=True)
class Disbursement:
    """Identifiers and dates of one disbursement, chosen by the caller."""

    loan_id: str
    application_id: str
    party_ref: str
    disbursement_date: date
    disbursed_at: datetime
    rule_set_version: str | None = None
    # A renewal or top-up: the existing loan the LMS pays off from this one at booking.
    settles_loan_id: str | None = None


def check_disbursable(offer: Offer, disbursement_date: date) -> None:
    """Funds must leave before the first installment falls due, or the offer is stale."""
    if disbursement_date >= offer.first_due_date:
        raise OfferStaleError(
            f"Disbursement on {disbursement_date} is not before the first due date "
            f"{offer.first_due_date}; the offer must be re-issued."
        )


def loan_disbursed_event(product: Product, offer: Offer, d: Disbursement) -> LoanDisbursedV1:
    """Every servicing term and the promised figures; a party reference, never personal data."""
    check_disbursable(offer, d.disbursement_date)
    if (product.code, product.version) != (offer.product_code, offer.product_version):
        raise OfferStaleError(
            f"The offer was priced on {offer.product_code} v{offer.product_version}, but the "
            f"catalog now has v{product.version}; the offer must be re-issued."
        )
    return LoanDisbursedV1(
        loan_id=d.loan_id,
        application_id=d.application_id,
        party_ref=d.party_ref,
        product_code=offer.product_code,
        currency=offer.currency,
        principal=offer.principal,
        net_disbursed=offer.net_disbursed,
        disbursement_date=d.disbursement_date,
        annual_rate=offer.annual_rate,
        day_count=product.day_count.value,
        interest_basis=product.interest_basis.value,
        amortization=product.method.value,
        frequency=product.frequency.value,
        term=offer.term,
        first_due_date=offer.first_due_date,
        rounding_mode=product.rounding_mode.value,
        fees=[FeeV1(code=f.code, amount=f.amount, treatment=f.treatment) for f in offer.fees],
        allocation_order=list(product.allocation_order),
        penalty=PenaltyTermsV1(
            late_fee_flat=product.penalty.late_fee_flat,
            penalty_rate_annual=product.penalty.penalty_rate_annual,
            grace_days=product.penalty.grace_days,
        ),
        promised=PromisedTermsV1(
            installment_amount=offer.installment_amount,
            total_repayable=offer.total_repayable,
            total_interest=offer.total_interest,
            apr=offer.apr,
        ),
        disbursed_at=d.disbursed_at,
        product_version=offer.product_version,
        risk_grade=offer.grade,
        decision_rule_set=d.rule_set_version,
        aprc=offer.aprc,
        settles_loan_id=d.settles_loan_id,
    )


def compare_booking(offer: Offer, event: LoanBookedV1) -> list[str]:
    """Names of promised figures the booked schedule does not reproduce (LOS's own check)."""
    summary = event.schedule
    expected = {
        "installment_amount": (offer.installment_amount, summary.installment_amount),
        "total_repayable": (offer.total_repayable, summary.total_repayable),
        "installments": (offer.term, summary.installments),
        "first_due_date": (offer.first_due_date, summary.first_due_date),
    }
    return [name for name, (promised, booked) in expected.items() if promised != booked]


def booking_mismatches(offer: Offer, event: LoanBookedV1) -> tuple[bool, list[str]]:
    """Whether servicing matches the offer, by the LMS's word AND the LOS's own comparison."""
    own = compare_booking(offer, event)
    combined = list(dict.fromkeys([*event.mismatches, *own]))
    return event.matches_offer and not own, combined
