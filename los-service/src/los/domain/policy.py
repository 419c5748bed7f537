"""The decision engine: versioned policy rules over the scorecard, checks and product limits.

Every rule below is evaluated for every application and stored with the decision (fired
or not, with the observed value and the threshold), so each outcome can be explained and
re-run: `evaluate` is a pure function of `PolicyInputs`, and `fingerprint` hashes the
inputs and the result so a replay proves it reached the same decision.

Outcome: decline if any decline rule fired, else refer if any refer rule fired, else
approve. Rules with the effect `flag` (a possible duplicate applicant) never change the
outcome: they are recorded for the reviewer and the auditor. Reasons: the fired decline
and refer rules' codes (plus the scorecard's informational ones) in the catalog order
below, at most four.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from los.domain.checks import BureauReport, CheckStatus
from los.domain.decision import (
    DECLINE_BELOW,
    REFER_BELOW,
    DecisionInputs,
    Outcome,
    decide,
    probability_of_default,
)
from los.domain.decision import (
    RULE_SET_VERSION as SCORECARD_VERSION,
)
from los.domain.products import Product

RULE_SET_VERSION = "policy-2025.2"
MAX_REASONS = 4


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A stable reason code, the underwriter's sentence and the adverse-action notice text."""

    code: str
    description: str
    notice: str


# In order of importance: a decision lists its reasons in this order.
REASON_CATALOG: tuple[ReasonCode, ...] = (
    ReasonCode(
        "SANCTIONS_MATCH",
        "Applicant matches a sanctions list entry (name and date of birth).",
        "We are unable to offer credit because of checks we are legally required to perform.",
    ),
    ReasonCode(
        "KYC_FAILED",
        "Identity could not be verified.",
        "We could not verify your identity from the information provided.",
    ),
    ReasonCode(
        "AGE_INELIGIBLE",
        "Applicant's age now or at maturity is outside the product's limits.",
        "Your age now or at the end of the loan is outside the limits for this product.",
    ),
    ReasonCode(
        "EMPLOYMENT_INELIGIBLE",
        "Employment status is not eligible for this product.",
        "This product is not available for your employment status.",
    ),
    ReasonCode(
        "BUREAU_DEFAULT",
        "Credit file shows a default in the last 24 months.",
        "Your credit report shows a default in the last 24 months.",
    ),
    ReasonCode(
        "INCOME_INSUFFICIENT",
        "No verifiable income to repay the loan.",
        "We could not establish income sufficient to repay the loan.",
    ),
    ReasonCode(
        "DTI_HIGH",
        "Debt-to-income ratio is above the product's maximum.",
        "Your debt payments are too high relative to your income.",
    ),
    ReasonCode(
        "AFFORDABILITY_FAIL",
        "Income left after all repayments is below the product's minimum.",
        "The income left after your repayments would be too low.",
    ),
    ReasonCode(
        "SCORE_LOW",
        "Credit score is below the minimum for this product.",
        "Your credit score is below the minimum for this product.",
    ),
    ReasonCode(
        "BUREAU_SCORE_LOW",
        "Bureau score is below the product's minimum.",
        "Your credit bureau score is below the minimum for this product.",
    ),
    ReasonCode(
        "SANCTIONS_POTENTIAL_MATCH",
        "Name is close to a sanctions list entry; compliance must review.",
        "Your application needs an additional check before we can decide.",
    ),
    ReasonCode(
        "PEP_MATCH",
        "Name is close to a politically exposed person; enhanced due diligence.",
        "Your application needs an additional check before we can decide.",
    ),
    ReasonCode(
        "KYC_REVIEW",
        "Identity check needs manual review.",
        "We need to review your identity documents before we can decide.",
    ),
    ReasonCode(
        "KYC_UNAVAILABLE",
        "Identity provider did not answer; the check must be repeated or done by hand.",
        "We could not complete an identity check and will review your application.",
    ),
    ReasonCode(
        "BUREAU_UNAVAILABLE",
        "Credit bureau did not answer; the report must be pulled again.",
        "We could not obtain your credit report and will review your application.",
    ),
    ReasonCode(
        "BUREAU_NO_FILE",
        "No credit file at the bureau (thin file).",
        "We found little or no credit history for you.",
    ),
    ReasonCode(
        "BUREAU_DELINQUENCY",
        "Recent delinquencies on the credit file.",
        "Your credit report shows recent late payments.",
    ),
    ReasonCode(
        "EXPOSURE_LIMIT",
        "Total exposure to the applicant would exceed the product's limit.",
        "The total credit you would owe us would exceed our limit.",
    ),
    ReasonCode(
        "POSSIBLE_DUPLICATE",
        "Another applicant has a very similar name and the same date of birth.",
        "We need to confirm some of your details before we can decide.",
    ),
    ReasonCode(
        "DTI_ELEVATED",
        "Debt-to-income ratio needs manual review.",
        "Your debt payments are high relative to your income.",
    ),
    ReasonCode(
        "SCORE_BORDERLINE",
        "Credit score is in the manual review band.",
        "Your credit score needs manual review.",
    ),
    ReasonCode(
        "EMPLOYMENT_UNSTABLE",
        "Employment status gives limited income stability.",
        "Your employment status gives limited income stability.",
    ),
    ReasonCode(
        "AMOUNT_HIGH_FOR_INCOME",
        "Requested amount is high relative to annual income.",
        "The amount requested is high relative to your income.",
    ),
    ReasonCode(
        "INCOME_LOW",
        "Monthly income is low for the requested credit.",
        "Your income is low for the credit requested.",
    ),
)
REASONS: Mapping[str, ReasonCode] = {r.code: r for r in REASON_CATALOG}
_RANK: Mapping[str, int] = {r.code: i for i, r in enumerate(REASON_CATALOG)}


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    """Everything a decision is made on; stored with it so it can be re-run."""

    application: DecisionInputs
    applicant_age: int
    age_at_maturity: int
    kyc: CheckStatus
    sanctions: CheckStatus
    sanctions_reasons: tuple[str, ...]
    bureau_status: CheckStatus
    bureau: BureauReport | None
    existing_exposure: Decimal
    possible_duplicate: bool

    def record(self) -> dict[str, Any]:
        """A JSON-able, canonical form of the inputs."""
        a = self.application
        return {
            "requested_amount": str(a.requested_amount),
            "term": a.term,
            "monthly_income": str(a.monthly_income),
            "monthly_obligations": str(a.monthly_obligations),
            "employment_status": a.employment_status.value,
            "applicant_age": self.applicant_age,
            "age_at_maturity": self.age_at_maturity,
            "kyc": self.kyc.value,
            "sanctions": self.sanctions.value,
            "sanctions_reasons": list(self.sanctions_reasons),
            "bureau_status": self.bureau_status.value,
            "bureau": None if self.bureau is None else self.bureau.as_dict(),
            "existing_exposure": str(self.existing_exposure),
            "possible_duplicate": self.possible_duplicate,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> PolicyInputs:
        """Rebuild the inputs from `record()`, for a replay."""
        from los.domain.applicants import EmploymentStatus

        return cls(
            application=DecisionInputs(
                requested_amount=Decimal(data["requested_amount"]),
                term=int(data["term"]),
                monthly_income=Decimal(data["monthly_income"]),
                monthly_obligations=Decimal(data["monthly_obligations"]),
                employment_status=EmploymentStatus(data["employment_status"]),
            ),
            applicant_age=int(data["applicant_age"]),
            age_at_maturity=int(data["age_at_maturity"]),
            kyc=CheckStatus(data["kyc"]),
            sanctions=CheckStatus(data["sanctions"]),
            sanctions_reasons=tuple(data["sanctions_reasons"]),
            bureau_status=CheckStatus(data["bureau_status"]),
            bureau=None if data["bureau"] is None else BureauReport.from_dict(data["bureau"]),
            existing_exposure=Decimal(data["existing_exposure"]),
            possible_duplicate=bool(data["possible_duplicate"]),
        )


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One evaluated rule: whether it fired, what it saw and against what."""

    rule_id: str
    description: str
    fired: bool
    effect: str
    reason: str
    observed: str
    threshold: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form stored with the decision."""
        return {
            "rule_id": self.rule_id,
            "description": self.description,
            "fired": self.fired,
            "effect": self.effect,
            "reason": self.reason,
            "observed": self.observed,
            "threshold": self.threshold,
        }


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The automated decision, its figures and every rule evaluated."""

    outcome: Outcome
    score: int
    pd: Decimal
    grade: str
    annual_rate: Decimal
    installment: Decimal
    effective_obligations: Decimal
    dti: Decimal | None
    residual_income: Decimal
    reasons: tuple[ReasonCode, ...]
    rules: tuple[RuleResult, ...]
    points: Mapping[str, int] = field(default_factory=dict)
    rule_set_version: str = RULE_SET_VERSION
    scorecard_version: str = SCORECARD_VERSION

    def figures(self) -> dict[str, Any]:
        """Derived figures as plain values, stored with the decision."""
        return {
            "score": self.score,
            "pd": str(self.pd),
            "grade": self.grade,
            "annual_rate": str(self.annual_rate),
            "installment_monthly": str(self.installment),
            "effective_obligations": str(self.effective_obligations),
            "dti": None if self.dti is None else str(self.dti),
            "residual_income": str(self.residual_income),
            "points": dict(self.points),
            "scorecard_version": self.scorecard_version,
        }


def fingerprint(product: Product, inputs: PolicyInputs, decision: PolicyDecision) -> str:
    """SHA-256 over product version, inputs, rule set and result: equal iff reproduced."""
    body = {
        "product": [product.code, product.version],
        "rule_set_version": decision.rule_set_version,
        "inputs": inputs.record(),
        "outcome": decision.outcome.value,
        "figures": decision.figures(),
        "reasons": [r.code for r in decision.reasons],
        "rules": [r.as_dict() for r in decision.rules],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


FLAG = "flag"


def _rule(
    rule_id: str,
    description: str,
    fired: bool,
    effect: Outcome | str,
    reason: str,
    observed: object,
    threshold: object,
) -> RuleResult:
    return RuleResult(
        rule_id, description, fired, str(effect), reason, str(observed), str(threshold)
    )


def evaluate(product: Product, inputs: PolicyInputs, as_of: date) -> PolicyDecision:
    """Run the scorecard and every policy rule; see the module docstring."""
    bureau = inputs.bureau
    declared = inputs.application.monthly_obligations
    bureau_debt = bureau.monthly_debt if bureau is not None else Decimal(0)
    effective = max(declared, bureau_debt)
    application = DecisionInputs(
        requested_amount=inputs.application.requested_amount,
        term=inputs.application.term,
        monthly_income=inputs.application.monthly_income,
        monthly_obligations=effective,
        employment_status=inputs.application.employment_status,
    )
    card = decide(product, application, as_of)
    policy = product.policy
    income = application.monthly_income
    residual = income - effective - card.installment
    dti_text = "none" if card.dti is None else card.dti
    exposure = inputs.existing_exposure + application.requested_amount
    D, R = Outcome.DECLINE, Outcome.REFER
    rules = [
        _rule(
            "SAN-01",
            "Sanctions list match on name and date of birth",
            inputs.sanctions is CheckStatus.FAILED,
            D,
            "SANCTIONS_MATCH",
            inputs.sanctions.value,
            "failed",
        ),
        _rule(
            "SAN-02",
            "Potential sanctions match needs compliance review",
            "SANCTIONS_POTENTIAL_MATCH" in inputs.sanctions_reasons,
            R,
            "SANCTIONS_POTENTIAL_MATCH",
            ",".join(inputs.sanctions_reasons) or "none",
            "SANCTIONS_POTENTIAL_MATCH",
        ),
        _rule(
            "SAN-03",
            "Politically exposed person needs enhanced due diligence",
            "PEP_MATCH" in inputs.sanctions_reasons,
            R,
            "PEP_MATCH",
            ",".join(inputs.sanctions_reasons) or "none",
            "PEP_MATCH",
        ),
        _rule(
            "SAN-04",
            "Screening could not be completed",
            inputs.sanctions is CheckStatus.ERROR,
            R,
            "KYC_UNAVAILABLE",
            inputs.sanctions.value,
            "error",
        ),
        _rule(
            "KYC-01",
            "Identity verification failed",
            inputs.kyc is CheckStatus.FAILED,
            D,
            "KYC_FAILED",
            inputs.kyc.value,
            "failed",
        ),
        _rule(
            "KYC-02",
            "Identity verification needs review",
            inputs.kyc is CheckStatus.REVIEW,
            R,
            "KYC_REVIEW",
            inputs.kyc.value,
            "review",
        ),
        _rule(
            "KYC-03",
            "Identity provider unavailable",
            inputs.kyc is CheckStatus.ERROR,
            R,
            "KYC_UNAVAILABLE",
            inputs.kyc.value,
            "error",
        ),
        _rule(
            "DUP-01",
            "Possible duplicate applicant (fuzzy name and same date of birth)",
            inputs.possible_duplicate,
            FLAG,
            "POSSIBLE_DUPLICATE",
            inputs.possible_duplicate,
            False,
        ),
        _rule(
            "ELG-01",
            "Applicant age at application",
            inputs.applicant_age < policy.min_age,
            D,
            "AGE_INELIGIBLE",
            inputs.applicant_age,
            f">= {policy.min_age}",
        ),
        _rule(
            "ELG-02",
            "Applicant age at maturity",
            inputs.age_at_maturity > policy.max_age_at_maturity,
            D,
            "AGE_INELIGIBLE",
            inputs.age_at_maturity,
            f"<= {policy.max_age_at_maturity}",
        ),
        _rule(
            "ELG-03",
            "Employment status eligible for the product",
            application.employment_status.value not in policy.eligible_employment,
            D,
            "EMPLOYMENT_INELIGIBLE",
            application.employment_status.value,
            ",".join(sorted(policy.eligible_employment)),
        ),
        _rule(
            "BUR-01",
            "Credit bureau unavailable",
            inputs.bureau_status is CheckStatus.ERROR,
            R,
            "BUREAU_UNAVAILABLE",
            inputs.bureau_status.value,
            "error",
        ),
        _rule(
            "BUR-02",
            "No credit file",
            bureau is not None and not bureau.file_found,
            R,
            "BUREAU_NO_FILE",
            "no file" if bureau and not bureau.file_found else "file",
            "file",
        ),
        _rule(
            "BUR-03",
            "Default in the last 24 months",
            bureau is not None and bureau.defaults_24m > 0,
            D,
            "BUREAU_DEFAULT",
            bureau.defaults_24m if bureau else "n/a",
            "0",
        ),
        _rule(
            "BUR-04",
            "30+ day delinquencies in the last 12 months",
            bureau is not None and bureau.delinquencies_12m >= 2,
            R,
            "BUREAU_DELINQUENCY",
            bureau.delinquencies_12m if bureau else "n/a",
            "< 2",
        ),
        _rule(
            "BUR-05",
            "Bureau score at or above the product minimum",
            bureau is not None
            and bureau.score is not None
            and bureau.score < policy.min_bureau_score,
            D,
            "BUREAU_SCORE_LOW",
            bureau.score if bureau else "n/a",
            f">= {policy.min_bureau_score}",
        ),
        _rule("AFF-01", "Income present", income <= 0, D, "INCOME_INSUFFICIENT", income, "> 0"),
        _rule(
            "AFF-02",
            "DTI within the refer limit",
            card.dti is not None and card.dti > product.max_dti_refer,
            D,
            "DTI_HIGH",
            dti_text,
            f"<= {product.max_dti_refer}",
        ),
        _rule(
            "AFF-03",
            "DTI within the approve limit",
            card.dti is not None and product.max_dti_approve < card.dti <= product.max_dti_refer,
            R,
            "DTI_ELEVATED",
            dti_text,
            f"<= {product.max_dti_approve}",
        ),
        _rule(
            "AFF-04",
            "Residual income after all repayments",
            income > 0 and residual < policy.min_residual_income,
            D,
            "AFFORDABILITY_FAIL",
            residual,
            f">= {policy.min_residual_income}",
        ),
        _rule(
            "SCR-01",
            "Score at or above the decline cut-off",
            card.score < DECLINE_BELOW,
            D,
            "SCORE_LOW",
            card.score,
            f">= {DECLINE_BELOW}",
        ),
        _rule(
            "SCR-02",
            "Score at or above the refer cut-off",
            DECLINE_BELOW <= card.score < REFER_BELOW,
            R,
            "SCORE_BORDERLINE",
            card.score,
            f">= {REFER_BELOW}",
        ),
        _rule(
            "EXP-01",
            "Total exposure within the product limit",
            policy.max_exposure is not None and exposure > policy.max_exposure,
            R,
            "EXPOSURE_LIMIT",
            exposure,
            "none" if policy.max_exposure is None else f"<= {policy.max_exposure}",
        ),
    ]
    fired = [r for r in rules if r.fired and r.effect != FLAG]
    if any(r.effect == Outcome.DECLINE.value for r in fired):
        outcome = Outcome.DECLINE
    elif fired:
        outcome = Outcome.REFER
    else:
        outcome = Outcome.APPROVE
    informational = {
        r.code
        for r in card.reasons
        if r.code in {"EMPLOYMENT_UNSTABLE", "AMOUNT_HIGH_FOR_INCOME", "INCOME_LOW"}
    }
    codes = {r.reason for r in fired} | informational
    reasons = tuple(REASONS[c] for c in sorted(codes, key=_RANK.__getitem__))[:MAX_REASONS]
    return PolicyDecision(
        outcome=outcome,
        score=card.score,
        pd=probability_of_default(card.score),
        grade=card.grade,
        annual_rate=card.annual_rate,
        installment=card.installment,
        effective_obligations=effective,
        dti=card.dti,
        residual_income=residual,
        reasons=reasons,
        rules=tuple(rules),
        points=dict(card.points),
    )
