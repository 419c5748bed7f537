"""Pure portfolio arithmetic: ratios, bucket floors, what counts in the portfolio."""

from __future__ import annotations

from decimal import Decimal

from lms.domain.delinquency import DEFAULT_BUCKETS, Bucket
from lms.domain.reports import LoanFacts, Outstanding, aggregate, bucket_floor, ratio

D = Decimal


def test_ratio_rounds_half_even_to_four_places_and_is_none_over_nothing():
    assert ratio(D("1"), D("3")) == D("0.3333")
    assert ratio(D("0.00005"), D("1")) == D("0.0000")  # half-even: down to the even digit
    assert ratio(D("0.00015"), D("1")) == D("0.0002")
    assert ratio(D("5"), D("0")) is None


def test_bucket_floor_is_the_fewest_days_a_bucket_holds():
    assert [bucket_floor(b.label, DEFAULT_BUCKETS) for b in DEFAULT_BUCKETS] == [0, 1, 31, 61, 91]
    custom = (Bucket("ok", 5), Bucket("late", 45), Bucket("bad", None))
    assert [bucket_floor(label, custom) for label in ("ok", "late", "bad")] == [0, 6, 46]
    assert bucket_floor("no-such-bucket", custom) == 0


def test_money_held_in_advance_is_not_owed():
    owed = Outstanding.owed({"principal": D("100.00"), "interest": D("-3.50")})
    assert (owed.principal, owed.interest, owed.total) == (D("100.00"), D("0"), D("100.00"))


def _loan(loan_id, currency, bucket, floor, principal, *, npl=False):
    return LoanFacts(
        loan_id, "P", currency, "active", bucket, floor, npl, Outstanding(principal=D(principal))
    )


def test_aggregate_keeps_currencies_apart_and_counts_par_above_each_threshold():
    books = aggregate(
        [
            _loan("a", "USD", "current", 0, "600.00"),
            _loan("b", "USD", "31-60", 31, "300.00"),
            _loan("c", "USD", "90+", 91, "100.00", npl=True),
            _loan("d", "USD", "current", 0, "0.00"),  # repaid: out of the portfolio
            _loan("e", "EUR", "61-90", 61, "50.00"),
        ]
    )
    usd, eur = books["USD"], books["EUR"]
    assert usd.loans == 3
    assert usd.outstanding.principal == D("1000.00")
    assert (usd.par(30), usd.par(60), usd.par(90)) == (D("0.4000"), D("0.1000"), D("0.1000"))
    assert usd.npa_ratio == D("0.1000")
    assert {k: v.loans for k, v in usd.lines.items()} == {
        ("P", "current"): 1,
        ("P", "31-60"): 1,
        ("P", "90+"): 1,
    }
    assert (eur.loans, eur.par(30), eur.par(90)) == (1, D("1.0000"), D("0.0000"))
    assert usd.collections_efficiency is None
