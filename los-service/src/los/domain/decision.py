"""Credit decision: affordability (DTI) and a small points scorecard, deterministic and pure.

Scorecard (rule set `RULE_SET_VERSION`): score = 300 + the points below, so 300..850.

=====================  ==============================================  ======
factor                 band                                            points
=====================  ==============================================  ======
DTI                    <= 0.20 / <= 0.30 / <= 0.36 / <= 0.40 /          200 / 160 / 120 / 80 /
                       <= 0.50 / above (or no income)                  30 / 0
employment status      employed / self_employed / retired /            150 / 110 / 100 /
                       student / unemployed                            40 / 0
monthly income         >= 8000 / >= 4000 / >= 2000 / >= 1000 / less     100 / 75 / 50 / 25 / 0
amount / annual income <= 0.10 / <= 0.25 / <= 0.50 / <= 1.00 / above   100 / 75 / 40 / 15 / 0
=====================  ==============================================  ======

Grade from score: A >= 760, B >= 700, C >= 640, D >= 580, else E.

DTI = (monthly_obligations + installment) / monthly_income, where the installment comes
from loanmath for the requested amount and term at the rate of the grade. Grade and rate
depend on each other, so pricing starts at grade A and re-scores at the rate of the grade
the score implies until it settles; a higher rate never improves the score, so the grade
only moves down and settles within five rounds.

Outcome, first rule that applies:
  decline  no income; DTI above the product's refer limit; score below 520
  refer    DTI above the product's approve limit; score below 580 (grey band)
  approve  otherwise
Reasons are the adverse factors, most important first, at most four.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from enum import StrEnum

from loanmath import Frequency, periods_per_year
from los.domain.applicants import EmploymentStatus
from los.domain.offers import schedule_for
from los.domain.products import GRADES, Product

RULE_SET_VERSION = "scorecard-2025.1"
BASE_SCORE = 300
MAX_SCORE = 850
DECLINE_BELOW = 520
REFER_BELOW = 580
MAX_REASONS = 4

_DTI_POINTS: tuple[tuple[Decimal, int], ...] = (
    (Decimal("0.20"), 200),
    (Decimal("0.30"), 160),
    (Decimal("0.36"), 120),
    (Decimal("0.40"), 80),
    (Decimal("0.50"), 30),
)
_EMPLOYMENT_POINTS: Mapping[EmploymentStatus, int] = {
    EmploymentStatus.EMPLOYED: 150,
    EmploymentStatus.SELF_EMPLOYED: 110,
    EmploymentStatus.RETIRED: 100,
    EmploymentStatus.STUDENT: 40,
    EmploymentStatus.UNEMPLOYED: 0,
}
_INCOME_POINTS: tuple[tuple[Decimal, int], ...] = (
    (Decimal(8000), 100),
    (Decimal(4000), 75),
    (Decimal(2000), 50),
    (Decimal(1000), 25),
)
_AMOUNT_TO_INCOME_POINTS: tuple[tuple[Decimal, int], ...] = (
    (Decimal("0.10"), 100),
    (Decimal("0.25"), 75),
    (Decimal("0.50"), 40),
    (Decimal("1.00"), 15),
)
_GRADE_FLOORS: tuple[tuple[int, str], ...] = ((760, "A"), (700, "B"), (640, "C"), (580, "D"))
_RATIO_PLACES = Decimal("0.000001")


class Outcome(StrEnum):
    """What the automated decision says."""

    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A stable reason code and the sentence shown with it."""

    code: str
    description: str


# In order of importance: a decision lists its reasons in this order.
REASON_CODES: tuple[ReasonCode, ...] = (
    ReasonCode("INCOME_INSUFFICIENT", "No verifiable income to repay the loan."),
    ReasonCode("DTI_HIGH", "Debt-to-income ratio is above the product's maximum."),
    ReasonCode("SCORE_LOW", "Credit score is below the minimum for this product."),
    ReasonCode("DTI_ELEVATED", "Debt-to-income ratio needs manual review."),
    ReasonCode("SCORE_BORDERLINE", "Credit score is in the manual review band."),
    ReasonCode("EMPLOYMENT_UNSTABLE", "Employment status gives limited income stability."),
    ReasonCode("AMOUNT_HIGH_FOR_INCOME", "Requested amount is high relative to annual income."),
    ReasonCode("INCOME_LOW", "Monthly income is low for the requested credit."),
)
REASONS: Mapping[str, ReasonCode] = {r.code: r for r in REASON_CODES}
_RANK: Mapping[str, int] = {r.code: i for i, r in enumerate(REASON_CODES)}


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """What the decision is made on; stored with it."""

    requested_amount: Decimal
    term: int
    monthly_income: Decimal
    monthly_obligations: Decimal
    employment_status: EmploymentStatus


@dataclass(frozen=True, slots=True)
class Decision:
    """The automated decision and how it was reached."""

    outcome: Outcome
    score: int
    grade: str
    annual_rate: Decimal
    installment: Decimal
    dti: Decimal | None
    reasons: tuple[ReasonCode, ...]
    rule_set_version: str = RULE_SET_VERSION
    points: Mapping[str, int] = field(default_factory=dict)

    def inputs_record(self, inputs: DecisionInputs) -> dict[str, str | int | None]:
        """The inputs and derived figures as plain strings, for the decision record."""
        return {
            "requested_amount": str(inputs.requested_amount),
            "term": inputs.term,
            "monthly_income": str(inputs.monthly_income),
            "monthly_obligations": str(inputs.monthly_obligations),
            "employment_status": inputs.employment_status.value,
            "installment": str(self.installment),
            "annual_rate": str(self.annual_rate),
            "dti": None if self.dti is None else str(self.dti),
            **{f"points_{k}": v for k, v in self.points.items()},
        }


def _banded(value: Decimal, bands: tuple[tuple[Decimal, int], ...], *, upper: bool) -> int:
    """Points of the first band `value` falls in (upper bounds, or lower bounds if not upper)."""
    for bound, points in bands:
        if (value <= bound) if upper else (value >= bound):
            return points
    return 0


def debt_to_income(obligations: Decimal, installment: Decimal, income: Decimal) -> Decimal | None:
    """(obligations + installment) / income to six places; None without income."""
    if income <= 0:
        return None
    return ((obligations + installment) / income).quantize(_RATIO_PLACES)


def score_points(inputs: DecisionInputs, dti: Decimal | None) -> dict[str, int]:
    """The scorecard's points per factor."""
    income = inputs.monthly_income
    if income > 0:
        ratio = inputs.requested_amount / (income * 12)
        amount_points = _banded(ratio, _AMOUNT_TO_INCOME_POINTS, upper=True)
    else:
        amount_points = 0
    return {
        "dti": 0 if dti is None else _banded(dti, _DTI_POINTS, upper=True),
        "employment": _EMPLOYMENT_POINTS[inputs.employment_status],
        "income": _banded(income, _INCOME_POINTS, upper=False),
        "amount_to_income": amount_points,
    }


def monthly_equivalent(installment: Decimal, frequency: Frequency) -> Decimal:
    """A regular installment as a monthly amount (x periods a year / 12), to the cent."""
    ppy = periods_per_year(frequency)
    if ppy == 12:
        return installment
    return (installment * ppy / 12).quantize(Decimal("0.01"))


def probability_of_default(score: int) -> Decimal:
    """PD of a score: good:bad odds are 9:1 at 580 and double every 40 points; 6 places."""
    with localcontext() as ctx:
        ctx.prec = 28
        odds = Decimal(9) * Decimal(2) ** (Decimal(score - 580) / Decimal(40))
        return (Decimal(1) / (Decimal(1) + odds)).quantize(_RATIO_PLACES)


def grade_for(score: int) -> str:
    """The risk grade of a score."""
    for floor, grade in _GRADE_FLOORS:
        if score >= floor:
            return grade
    return GRADES[-1]


def _price(
    product: Product, inputs: DecisionInputs, grade: str, as_of: date
) -> tuple[Decimal, Decimal | None, dict[str, int], int]:
    """Installment, DTI, points and score when priced at `grade`'s rate."""
    financed = sum(
        (
            f.amount_for(inputs.requested_amount, product.currency, product.rounding_mode)
            for f in product.fees
            if f.treatment == "financed"
        ),
        Decimal(0),
    )
    schedule = schedule_for(
        product, inputs.requested_amount + financed, product.rate_for(grade), inputs.term, as_of
    )
    regular = schedule.installment_amount
    if product.policy.affordability_basis == "interest":
        regular = (schedule.total_interest / len(schedule.installments)).quantize(Decimal("0.01"))
    installment = monthly_equivalent(regular, product.frequency)
    dti = debt_to_income(inputs.monthly_obligations, installment, inputs.monthly_income)
    points = score_points(inputs, dti)
    score = min(BASE_SCORE + sum(points.values()), MAX_SCORE)
    return installment, dti, points, score


def decide(product: Product, inputs: DecisionInputs, as_of: date) -> Decision:
    """Run affordability and the scorecard; see the module docstring for every rule."""
    grade = GRADES[0]
    for _ in GRADES:
        installment, dti, points, score = _price(product, inputs, grade, as_of)
        implied = grade_for(score)
        if implied == grade:
            break
        grade = implied
    else:  # pragma: no cover - grades only move down, so five rounds always settle
        raise AssertionError("pricing did not settle")
    codes: set[str] = set()
    if inputs.monthly_income <= 0:
        codes.add("INCOME_INSUFFICIENT")
    if dti is not None and dti > product.max_dti_refer:
        codes.add("DTI_HIGH")
    elif dti is not None and dti > product.max_dti_approve:
        codes.add("DTI_ELEVATED")
    if score < DECLINE_BELOW:
        codes.add("SCORE_LOW")
    elif score < REFER_BELOW:
        codes.add("SCORE_BORDERLINE")
    if inputs.employment_status in (EmploymentStatus.UNEMPLOYED, EmploymentStatus.STUDENT):
        codes.add("EMPLOYMENT_UNSTABLE")
    if points["amount_to_income"] == 0 and inputs.monthly_income > 0:
        codes.add("AMOUNT_HIGH_FOR_INCOME")
    if 0 < inputs.monthly_income < _INCOME_POINTS[-1][0]:
        codes.add("INCOME_LOW")
    if codes & {"INCOME_INSUFFICIENT", "DTI_HIGH", "SCORE_LOW"}:
        outcome = Outcome.DECLINE
    elif codes & {"DTI_ELEVATED", "SCORE_BORDERLINE"}:
        outcome = Outcome.REFER
    else:
        outcome = Outcome.APPROVE
    reasons = tuple(REASONS[c] for c in sorted(codes, key=_RANK.__getitem__))[:MAX_REASONS]
    return Decision(
        outcome=outcome,
        score=score,
        grade=grade,
        annual_rate=product.rate_for(grade),
        installment=installment,
        dti=dti,
        reasons=reasons,
        points=points,
    )
