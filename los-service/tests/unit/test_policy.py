"""The decision engine: rules, outcomes, reasons and reproducibility."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from los.domain.applicants import EmploymentStatus
from los.domain.checks import BureauReport, CheckStatus, sandbox_bureau_report
from los.domain.decision import DecisionInputs, Outcome, probability_of_default
from los.domain.policy import (
    MAX_REASONS,
    REASON_CATALOG,
    RULE_SET_VERSION,
    PolicyInputs,
    evaluate,
    fingerprint,
)
from los.products import load_catalog

CATALOG = load_catalog()
PL = CATALOG.get("PL-STD")
AS_OF = date(2025, 3, 10)
CLEAN = BureauReport(True, 720, Decimal("0.00"), 2, 0, 0)


def _inputs(**changes: object) -> PolicyInputs:
    base = PolicyInputs(
        application=DecisionInputs(
            requested_amount=Decimal("10000.00"),
            term=36,
            monthly_income=Decimal("6000.00"),
            monthly_obligations=Decimal("500.00"),
            employment_status=EmploymentStatus.EMPLOYED,
        ),
        applicant_age=40,
        age_at_maturity=43,
        kyc=CheckStatus.PASSED,
        sanctions=CheckStatus.PASSED,
        sanctions_reasons=(),
        bureau_status=CheckStatus.PASSED,
        bureau=CLEAN,
        existing_exposure=Decimal(0),
        possible_duplicate=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_clean_application_is_approved_with_every_rule_recorded():
    d = evaluate(PL, _inputs(), AS_OF)
    assert d.outcome is Outcome.APPROVE
    assert d.reasons == ()
    assert d.rule_set_version == RULE_SET_VERSION
    assert len({r.rule_id for r in d.rules}) == len(d.rules) >= 20
    assert not any(r.fired for r in d.rules)
    assert d.pd == probability_of_default(d.score)


def test_same_inputs_same_decision_and_fingerprint():
    inputs = _inputs(kyc=CheckStatus.REVIEW, bureau=sandbox_bureau_report("12345644"))
    first, second = evaluate(PL, inputs, AS_OF), evaluate(PL, inputs, AS_OF)
    assert first == second
    assert fingerprint(PL, inputs, first) == fingerprint(PL, inputs, second)
    # A round trip through the stored record changes nothing either.
    again = PolicyInputs.from_record(inputs.record())
    assert again == inputs
    assert fingerprint(PL, again, evaluate(PL, again, AS_OF)) == fingerprint(PL, inputs, first)
    # And a different input gives a different fingerprint.
    other = _inputs(existing_exposure=Decimal("1.00"))
    assert fingerprint(PL, other, evaluate(PL, other, AS_OF)) != fingerprint(PL, inputs, first)


@pytest.mark.parametrize(
    ("changes", "outcome", "first_reason"),
    [
        (
            {"sanctions": CheckStatus.FAILED, "sanctions_reasons": ("SANCTIONS_MATCH",)},
            Outcome.DECLINE,
            "SANCTIONS_MATCH",
        ),
        (
            {"sanctions": CheckStatus.REVIEW, "sanctions_reasons": ("PEP_MATCH",)},
            Outcome.REFER,
            "PEP_MATCH",
        ),
        ({"kyc": CheckStatus.FAILED}, Outcome.DECLINE, "KYC_FAILED"),
        ({"kyc": CheckStatus.REVIEW}, Outcome.REFER, "KYC_REVIEW"),
        ({"kyc": CheckStatus.ERROR}, Outcome.REFER, "KYC_UNAVAILABLE"),
        ({"bureau_status": CheckStatus.ERROR, "bureau": None}, Outcome.REFER, "BUREAU_UNAVAILABLE"),
        (
            {"bureau": BureauReport(False, None, Decimal(0), 0, 0, 0)},
            Outcome.REFER,
            "BUREAU_NO_FILE",
        ),
        (
            {"bureau": BureauReport(True, 450, Decimal(0), 1, 0, 0)},
            Outcome.DECLINE,
            "BUREAU_SCORE_LOW",
        ),
        ({"age_at_maturity": 76}, Outcome.DECLINE, "AGE_INELIGIBLE"),
        ({"existing_exposure": Decimal("70000.00")}, Outcome.REFER, "EXPOSURE_LIMIT"),
    ],
)
def test_rules_drive_the_outcome(changes, outcome, first_reason):
    d = evaluate(PL, _inputs(**changes), AS_OF)
    assert d.outcome is outcome
    assert d.reasons[0].code == first_reason
    fired = [r for r in d.rules if r.fired]
    assert any(r.reason == first_reason for r in fired)


def test_bureau_debt_above_declared_is_used_for_dti():
    declared = evaluate(PL, _inputs(), AS_OF)
    heavier = evaluate(
        PL, _inputs(bureau=BureauReport(True, 720, Decimal("2000.00"), 5, 0, 0)), AS_OF
    )
    assert heavier.effective_obligations == Decimal("2000.00")
    assert heavier.dti is not None
    assert declared.dti is not None
    assert heavier.dti > declared.dti


def test_possible_duplicate_flags_without_changing_the_outcome():
    d = evaluate(PL, _inputs(possible_duplicate=True), AS_OF)
    assert d.outcome is Outcome.APPROVE
    (dup,) = [r for r in d.rules if r.rule_id == "DUP-01"]
    assert dup.fired
    assert dup.effect == "flag"


def test_at_most_four_reasons_in_catalog_order():
    d = evaluate(
        PL,
        _inputs(
            kyc=CheckStatus.FAILED,
            sanctions=CheckStatus.REVIEW,
            sanctions_reasons=("SANCTIONS_POTENTIAL_MATCH", "PEP_MATCH"),
            bureau=sandbox_bureau_report("12345633"),
            age_at_maturity=90,
            existing_exposure=Decimal("100000.00"),
        ),
        AS_OF,
    )
    assert d.outcome is Outcome.DECLINE
    assert len(d.reasons) == MAX_REASONS
    order = [r.code for r in REASON_CATALOG]
    codes = [r.code for r in d.reasons]
    assert codes == sorted(codes, key=order.index)
    assert codes[:3] == ["KYC_FAILED", "AGE_INELIGIBLE", "BUREAU_DEFAULT"]


def test_reason_catalog_has_notice_text_for_every_code():
    assert len({r.code for r in REASON_CATALOG}) == len(REASON_CATALOG)
    assert all(r.description and r.notice for r in REASON_CATALOG)
