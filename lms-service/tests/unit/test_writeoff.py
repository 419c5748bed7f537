"""Write-off and recovery entries balance, and the four-eyes rule holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms.domain.errors import FourEyesViolationError, NothingToWriteOffError
from lms.domain.ledger import Account, Side
from lms.domain.writeoff import check_four_eyes, recovery_lines, write_off_lines

D = Decimal
amounts = st.integers(-50_000, 5_000_000).map(lambda n: D(n).scaleb(-2))


def _net(lines, account):
    return sum(
        (
            p.amount if p.side is Side.DEBIT else -p.amount
            for p in lines.postings
            if p.account is account
        ),
        D(0),
    )


@given(principal=amounts, interest=amounts, fees=amounts, penalties=amounts)
def test_a_write_off_empties_every_receivable_and_balances(principal, interest, fees, penalties):
    balances = {"principal": principal, "interest": interest, "fees": fees, "penalties": penalties}
    if not any(balances.values()):
        with pytest.raises(NothingToWriteOffError):
            write_off_lines("USD", balances)
        return
    lines = write_off_lines("USD", balances)  # JournalLines refuses an unbalanced entry
    receivables = {
        "principal": Account.LOANS_RECEIVABLE_PRINCIPAL,
        "interest": Account.INTEREST_RECEIVABLE,
        "fees": Account.FEES_RECEIVABLE,
        "penalties": Account.PENALTIES_RECEIVABLE,
    }
    for component, account in receivables.items():
        assert balances[component] + _net(lines, account) == 0
    assert _net(lines, Account.WRITE_OFF_EXPENSE) == principal
    assert _net(lines, Account.INTEREST_INCOME) == interest


def test_recovery_is_cash_against_recovery_income():
    lines = recovery_lines("EUR", D("12.34"))
    assert _net(lines, Account.CASH_CLEARING) == D("12.34")
    assert _net(lines, Account.RECOVERY_INCOME) == D("-12.34")


def test_the_requester_may_not_decide():
    check_four_eyes("ann", "bob")
    with pytest.raises(FourEyesViolationError):
        check_four_eyes("ann", "ann")
