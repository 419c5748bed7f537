"""Offer APR and APRC against independently computed references, across products.

References are computed here, not by loanmath:
- APR (US actuarial, unit periods): numpy_financial.irr on the float cash flows
  [-amount financed, installment_1, ..., installment_n], times the periods per year.
  Regulation Z tolerates 1/8 of a percentage point; we require that.
- APRC (EU CCD Annex I): a float bisection written below on
  sum(C_k * (1 + X) ** -(days_k / 365)) = amount financed, compared to one decimal place
  of a percent, the precision the directive asks for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy_financial as npf
import pytest

from loanmath import periods_per_year
from los.domain.offers import Offer, build_offer
from los.products import load_catalog

CATALOG = load_catalog()
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)

# (product, amount, grade, term): every product, every fee treatment, monthly and weekly
# payments, equal principal, and a bullet after one month.
CASES = [
    ("PL-STD", "10000.00", "A", 36),  # deducted fee
    ("PL-STD", "1000.00", "E", 6),  # fee clamped to its minimum
    ("AUTO-STD", "20000.00", "C", 48),  # deducted + financed flat fee
    ("AUTO-STD", "75000.00", "A", 84),  # fee clamped to its maximum
    ("MSME-TERM", "60000.00", "B", 36),  # upfront fee, equal principal, ACT/365 interest
    ("ST-WEEKLY", "1000.00", "A", 12),  # weekly
    ("ST-WEEKLY", "3000.00", "E", 26),  # weekly, fee at its maximum
    ("INV-FIN", "40000.00", "A", 1),  # one bullet payment at maturity
    ("INV-FIN", "5000.00", "D", 1),  # a bullet with the fee at its minimum
]


def _offer(code: str, amount: str, grade: str, term: int) -> Offer:
    return build_offer(
        CATALOG.get(code),
        principal=Decimal(amount),
        grade=grade,
        term=term,
        now=NOW,
        validity=timedelta(days=14),
    )


def _aprc_bisection(amount: float, flows: list[tuple[int, float]]) -> float:
    """X with sum(c * (1 + X) ** -(days / 365)) == amount, by bisection on [0, 100]."""

    def pv(x: float) -> float:
        return sum(c * (1 + x) ** -(d / 365) for d, c in flows)

    low, high = 0.0, 100.0
    for _ in range(200):
        mid = (low + high) / 2
        if pv(mid) > amount:
            low = mid
        else:
            high = mid
    return (low + high) / 2


@pytest.mark.parametrize(("code", "amount", "grade", "term"), CASES)
def test_apr_matches_numpy_financial_irr(code, amount, grade, term):
    offer = _offer(code, amount, grade, term)
    product = CATALOG.get(code)
    flows = [-float(offer.amount_financed)] + [float(s.total) for s in offer.schedule]
    reference = float(npf.irr(flows)) * periods_per_year(product.frequency)
    assert abs(float(offer.apr) - reference) <= 0.00125, (offer.apr, reference)


@pytest.mark.parametrize(("code", "amount", "grade", "term"), CASES)
def test_aprc_matches_bisection_to_one_decimal(code, amount, grade, term):
    offer = _offer(code, amount, grade, term)
    flows = [((s.due_date - offer.offer_date).days, float(s.total)) for s in offer.schedule]
    reference = _aprc_bisection(float(offer.amount_financed), flows)
    assert offer.aprc is not None
    assert round(float(offer.aprc) * 100, 1) == round(reference * 100, 1), (offer.aprc, reference)


def test_amount_financed_per_fee_treatment():
    """Deducted and upfront fees reduce the amount financed; financed fees raise principal."""
    auto = _offer("AUTO-STD", "20000.00", "C", 48)
    # 1 % origination (200.00) deducted, 150.00 documentation financed.
    assert auto.principal == Decimal("20150.00")
    assert auto.requested_amount == Decimal("20000.00")
    assert auto.net_disbursed == Decimal("19950.00")
    assert auto.amount_financed == Decimal("19800.00")
    msme = _offer("MSME-TERM", "60000.00", "B", 36)
    # 1.5 % arrangement fee = 900.00 paid upfront: the payout is the whole principal.
    assert msme.net_disbursed == Decimal("60000.00")
    assert msme.amount_financed == Decimal("59100.00")
    bullet = _offer("INV-FIN", "40000.00", "A", 1)
    assert [s.principal for s in bullet.schedule] == [Decimal("40000.00")]
    assert bullet.schedule[0].total == bullet.total_repayable


def test_offer_is_reproducible():
    """The same inputs give the same offer, to the cent and the date."""
    assert _offer("MSME-TERM", "60000.00", "B", 36) == _offer("MSME-TERM", "60000.00", "B", 36)
