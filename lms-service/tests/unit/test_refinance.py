"""Renewals and top-ups: the checks on the loan to settle, the one entry across both loans,
and fingerprints that stay the same for loans booked before LoanDisbursed 1.2."""

import hashlib
import json
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms.domain.errors import LmsError, UnbalancedEntryError
from lms.domain.ledger import Account, Side
from lms.domain.refinance import (
    PayoffExceedsDisbursementError,
    RefinanceCurrencyMismatchError,
    RefinanceDateError,
    RefinancedLoanNotActiveError,
    RefinancedLoanNotFoundError,
    SettledLoan,
    check_payoff,
    check_settleable,
    settlement_lines,
    settlement_ref,
)
from lms.domain.terms import _canonical, terms_fingerprint

D = Decimal
OLD = SettledLoan("LN-1", "active", "USD", date(2024, 5, 1))


def _check(old=OLD, currency="USD", on=date(2024, 6, 16)):
    return check_settleable(old, loan_id="LN-1", currency=currency, disbursement_date=on)


def test_an_active_loan_in_the_same_currency_disbursed_earlier_can_be_settled():
    assert _check() is OLD
    assert _check(on=date(2024, 5, 1)) is OLD  # the same day is fine


@pytest.mark.parametrize(
    ("old", "kwargs", "error", "code"),
    [
        (None, {}, RefinancedLoanNotFoundError, "refinanced_loan_not_found"),
        (
            SettledLoan("LN-1", "paid_off", "USD", date(2024, 5, 1)),
            {},
            RefinancedLoanNotActiveError,
            "refinanced_loan_not_active",
        ),
        (
            SettledLoan("LN-1", "written_off", "USD", date(2024, 5, 1)),
            {},
            RefinancedLoanNotActiveError,
            "refinanced_loan_not_active",
        ),
        (OLD, {"currency": "EUR"}, RefinanceCurrencyMismatchError, "refinance_currency_mismatch"),
        (OLD, {"on": date(2024, 4, 30)}, RefinanceDateError, "refinance_date_invalid"),
    ],
)
def test_what_cannot_be_settled_is_refused_with_a_stable_code(old, kwargs, error, code):
    with pytest.raises(error) as info:
        _check(old, **kwargs)
    assert info.value.code == code
    assert isinstance(info.value, LmsError)  # the consumer dead-letters LmsErrors


def test_the_payoff_must_fit_in_the_payout():
    check_payoff("LN-1", D("9257.57"), D("9257.57"), "USD")
    with pytest.raises(PayoffExceedsDisbursementError, match=r"9257\.58 USD"):
        check_payoff("LN-1", D("9257.58"), D("9257.57"), "USD")
    with pytest.raises(RefinancedLoanNotActiveError, match="owes nothing"):
        check_payoff("LN-1", D("0.00"), D("100.00"), "USD")


def test_the_settling_payment_reference_is_one_per_new_loan():
    assert settlement_ref("LN-2") == "renewal:LN-2"


def test_one_entry_spans_both_loans():
    # The integration test's figures: 15000.00 with a 300.00 fee settles 9211.51 + 46.06.
    lines = settlement_lines(
        "USD",
        principal=D("15000.00"),
        net_disbursed=D("14700.00"),
        deducted_fees=[D("300.00")],
        settled_loan_id="LN-1",
        settled_split={
            Account.LOANS_RECEIVABLE_PRINCIPAL: D("9211.51"),
            Account.INTEREST_RECEIVABLE: D("46.06"),
        },
    )
    got = sorted(
        (p.account.value, p.side.value, p.amount, loan)
        for p, loan in zip(lines.lines.postings, lines.loans, strict=True)
    )
    assert got == sorted(
        [
            ("loans_receivable_principal", "debit", D("15000.00"), None),
            ("cash_clearing", "credit", D("5442.43"), None),
            ("fee_income", "credit", D("300.00"), None),
            ("loans_receivable_principal", "credit", D("9211.51"), "LN-1"),
            ("interest_receivable", "credit", D("46.06"), "LN-1"),
        ]
    )
    assert lines.lines.debits == lines.lines.credits == D("15000.00")


def test_a_payoff_of_the_whole_payout_has_no_cash_posting_and_more_is_refused():
    split = {Account.LOANS_RECEIVABLE_PRINCIPAL: D("9800.00")}
    lines = settlement_lines(
        "USD",
        principal=D("10000.00"),
        net_disbursed=D("9800.00"),
        deducted_fees=[D("200.00")],
        settled_loan_id="LN-1",
        settled_split=split,
    )
    assert Account.CASH_CLEARING not in {p.account for p in lines.lines.postings}
    with pytest.raises(PayoffExceedsDisbursementError):
        settlement_lines(
            "USD",
            principal=D("10000.00"),
            net_disbursed=D("9800.00"),
            deducted_fees=[D("200.00")],
            settled_loan_id="LN-1",
            settled_split={Account.LOANS_RECEIVABLE_PRINCIPAL: D("9800.01")},
        )


def test_terms_that_do_not_add_up_are_refused_as_unbalanced():
    with pytest.raises(UnbalancedEntryError):
        settlement_lines(
            "USD",
            principal=D("10000.00"),
            net_disbursed=D("9900.00"),  # principal less fees would be 9800.00
            deducted_fees=[D("200.00")],
            settled_loan_id="LN-1",
            settled_split={Account.LOANS_RECEIVABLE_PRINCIPAL: D("5000.00")},
        )


cents = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n).scaleb(-2))


@given(
    fee=cents,
    parts=st.lists(cents, min_size=1, max_size=4),
    cash=st.integers(min_value=0, max_value=10**9).map(lambda n: D(n).scaleb(-2)),
)
def test_the_entry_always_balances_and_credits_the_old_loan_with_the_payoff(fee, parts, cash):
    accounts = [
        Account.PENALTIES_RECEIVABLE,
        Account.FEES_RECEIVABLE,
        Account.INTEREST_RECEIVABLE,
        Account.LOANS_RECEIVABLE_PRINCIPAL,
    ]
    split = dict(zip(accounts, parts, strict=False))
    payoff = sum(split.values(), D(0))
    net = payoff + cash
    lines = settlement_lines(
        "USD",
        principal=net + fee,
        net_disbursed=net,
        deducted_fees=[fee],
        settled_loan_id="LN-1",
        settled_split=split,
    )
    assert lines.lines.debits == lines.lines.credits == net + fee
    old_side = [p for p, loan in zip(lines.lines.postings, lines.loans, strict=True) if loan]
    assert all(p.side is Side.CREDIT for p in old_side)
    assert sum((p.amount for p in old_side), D(0)) == payoff


def _digest_without_the_new_field(event):
    """The fingerprint as it was computed before 1.2 added settles_loan_id."""
    fields = event.model_dump(mode="python")
    del fields["settles_loan_id"]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_loan_booked_before_1_2_keeps_its_fingerprint(disbursed):
    event = disbursed()
    assert event.settles_loan_id is None
    assert terms_fingerprint(event) == _digest_without_the_new_field(event)


def test_the_loan_to_settle_is_part_of_the_terms(disbursed):
    plain = terms_fingerprint(disbursed())
    renewal = terms_fingerprint(disbursed(settles_loan_id="LN-0"))
    assert renewal != plain
    assert terms_fingerprint(disbursed(settles_loan_id="LN-0")) == renewal
    assert terms_fingerprint(disbursed(settles_loan_id="LN-9")) != renewal
