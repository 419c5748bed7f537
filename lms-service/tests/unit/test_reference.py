"""The test reference itself agrees with the published example: 10000 at 12%/12 months."""

from decimal import Decimal


def test_reference_annuity_matches_published_installment(reference):
    # 10000 at 1% a month over 12 months: 10000*0.01/(1-1.01^-12) = 888.4878..., the figure
    # every annuity calculator (and the contract's own example) quotes as 888.49.
    table = reference(Decimal("10000.00"), Decimal("0.12"), 12)
    assert table[0]["total"] == Decimal("888.49")
    assert sum(row["principal"] for row in table) == Decimal("10000.00")
    assert table[0]["interest"] == Decimal("100.00")
