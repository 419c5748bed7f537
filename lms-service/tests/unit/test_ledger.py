"""Journal entries balance; the disbursement entry in particular."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms.domain.errors import UnbalancedEntryError
from lms.domain.ledger import Account, JournalLines, PostingLine, Side, disbursement_lines

D = Decimal


def test_disbursement_debits_receivable_and_credits_cash_and_fees():
    lines = disbursement_lines("USD", D("10000.00"), D("9800.00"), [D("150.00"), D("50.00")])
    assert lines.debits == lines.credits == D("10000.00")
    by_account = {(p.account, p.side): p.amount for p in lines.postings}
    assert by_account[(Account.LOANS_RECEIVABLE_PRINCIPAL, Side.DEBIT)] == D("10000.00")
    assert by_account[(Account.CASH_CLEARING, Side.CREDIT)] == D("9800.00")
    assert sum(p.amount for p in lines.postings if p.account is Account.FEE_INCOME) == D("200.00")


def test_unbalanced_entries_are_refused():
    with pytest.raises(UnbalancedEntryError):
        disbursement_lines("USD", D("10000.00"), D("9800.00"), [])
    with pytest.raises(UnbalancedEntryError):
        JournalLines("USD", ())
    with pytest.raises(UnbalancedEntryError):
        JournalLines(
            "USD",
            (
                PostingLine(Account.CASH_CLEARING, Side.DEBIT, D("-1")),
                PostingLine(Account.FEE_INCOME, Side.CREDIT, D("-1")),
            ),
        )


cents = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)


@given(st.lists(cents, max_size=5), cents)
def test_debits_equal_credits_for_any_deducted_fees(fees, net):
    principal = net + sum(fees, D(0))
    lines = disbursement_lines("EUR", principal, net, fees)
    assert lines.debits == lines.credits == principal
