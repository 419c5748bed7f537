"""The scorecard and decision rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from los.domain.applicants import EmploymentStatus
from los.domain.decision import (
    MAX_REASONS,
    REASON_CODES,
    DecisionInputs,
    Outcome,
    debt_to_income,
    decide,
    grade_for,
)
from los.products import load_catalog

PRODUCT = load_catalog().get("PL-STD")
AS_OF = date(2025, 3, 10)
RANK = {r.code: i for i, r in enumerate(REASON_CODES)}
SEVERITY = {Outcome.DECLINE: 0, Outcome.REFER: 1, Outcome.APPROVE: 2}


def _inputs(
    amount="10000.00", term=36, income="6000.00", obligations="500.00", employment="employed"
):
    return DecisionInputs(
        requested_amount=Decimal(amount),
        term=term,
        monthly_income=Decimal(income),
        monthly_obligations=Decimal(obligations),
        employment_status=EmploymentStatus(employment),
    )


def test_approve_grade_a():
    # Points by hand: DTI (500 + 317.95) / 6000 = 0.136 -> 200; employed 150; income 6000 -> 75;
    # 10000 / 72000 = 0.139 -> 75. 300 + 500 = 800, grade A.
    d = decide(PRODUCT, _inputs(), AS_OF)
    assert (d.outcome, d.score, d.grade) == (Outcome.APPROVE, 800, "A")
    assert d.installment == Decimal("317.95")
    assert d.dti == Decimal("0.136325")
    assert d.reasons == ()
    assert d.annual_rate == Decimal("0.0899")


def test_refer_in_the_grey_band():
    # DTI ~0.47 -> 30; employed 150; income 3000 -> 50; 10000/36000 = 0.28 -> 40: 570, grade E.
    d = decide(PRODUCT, _inputs(income="3000.00", obligations="1000.00"), AS_OF)
    assert (d.outcome, d.score, d.grade) == (Outcome.REFER, 570, "E")
    assert [r.code for r in d.reasons] == ["DTI_ELEVATED", "SCORE_BORDERLINE"]


def test_grade_settles_at_the_rate_it_implies():
    # At grade A's rate DTI is 0.36x; at the implied grade's rate it rises: pricing re-scores.
    d = decide(PRODUCT, _inputs(amount="20000.00", income="4000.00", obligations="800.00"), AS_OF)
    assert grade_for(d.score) == d.grade
    assert d.annual_rate == PRODUCT.rate_for(d.grade)


def test_decline_dti_high():
    d = decide(PRODUCT, _inputs(income="2000.00", obligations="1500.00"), AS_OF)
    assert d.outcome is Outcome.DECLINE
    assert [r.code for r in d.reasons] == ["DTI_HIGH", "SCORE_BORDERLINE"]


def test_decline_without_income():
    d = decide(PRODUCT, _inputs(income="0", obligations="0", employment="unemployed"), AS_OF)
    assert d.outcome is Outcome.DECLINE
    assert d.score == 300
    assert d.dti is None
    assert [r.code for r in d.reasons] == [
        "INCOME_INSUFFICIENT",
        "SCORE_LOW",
        "EMPLOYMENT_UNSTABLE",
    ]


def test_decline_on_low_score_alone():
    # Student, income 1200, 50000 over 60: DTI at E ~ 1.2 -> decline on DTI and score.
    d = decide(
        PRODUCT,
        _inputs(amount="50000", term=60, income="1200", obligations="0", employment="student"),
        AS_OF,
    )
    assert d.outcome is Outcome.DECLINE
    codes = [r.code for r in d.reasons]
    assert codes[:2] == ["DTI_HIGH", "SCORE_LOW"]
    assert len(codes) == MAX_REASONS


def test_inputs_are_recorded():
    inputs = _inputs()
    record = decide(PRODUCT, inputs, AS_OF).inputs_record(inputs)
    assert record["requested_amount"] == "10000.00"
    assert record["installment"] == "317.95"
    assert record["points_dti"] == 200


def test_dti():
    assert debt_to_income(Decimal(100), Decimal(200), Decimal(1000)) == Decimal("0.300000")
    assert debt_to_income(Decimal(100), Decimal(200), Decimal(0)) is None


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (850, "A"),
        (760, "A"),
        (759, "B"),
        (700, "B"),
        (640, "C"),
        (580, "D"),
        (579, "E"),
        (300, "E"),
    ],
)
def test_grades(score, grade):
    assert grade_for(score) == grade


amounts = st.integers(min_value=1000, max_value=50000).map(Decimal)
terms = st.integers(min_value=6, max_value=60)
money = st.integers(min_value=0, max_value=2_000_000).map(lambda c: Decimal(c) / 100)
employment = st.sampled_from(list(EmploymentStatus))


@settings(max_examples=150, deadline=None)
@given(amounts, terms, money, money, employment)
def test_decision_invariants(amount, term, income, obligations, status):
    inputs = DecisionInputs(amount, term, income, obligations, status)
    d = decide(PRODUCT, inputs, AS_OF)
    assert 300 <= d.score <= 850
    assert grade_for(d.score) == d.grade
    assert d.annual_rate == PRODUCT.rate_for(d.grade)
    assert len(d.reasons) <= MAX_REASONS
    ranks = [RANK[r.code] for r in d.reasons]
    assert ranks == sorted(ranks)
    if d.outcome is Outcome.DECLINE:
        assert {"INCOME_INSUFFICIENT", "DTI_HIGH", "SCORE_LOW"} & {r.code for r in d.reasons}
    if income == 0:
        assert d.outcome is Outcome.DECLINE
    if d.outcome is Outcome.APPROVE:
        assert d.dti is not None
        assert d.dti <= PRODUCT.max_dti_approve


@settings(max_examples=100, deadline=None)
@given(
    amounts,
    terms,
    money,
    money,
    st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c) / 100),
    employment,
)
def test_more_obligations_never_help(amount, term, income, obligations, extra, status):
    base = decide(PRODUCT, DecisionInputs(amount, term, income, obligations, status), AS_OF)
    worse = decide(
        PRODUCT, DecisionInputs(amount, term, income, obligations + extra, status), AS_OF
    )
    assert worse.score <= base.score
    assert SEVERITY[worse.outcome] <= SEVERITY[base.outcome]
